//! Webhook TLS: the controller's own CA and serving certificate, or cert-manager's from files.
