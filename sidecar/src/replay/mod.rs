//! placeholder, written by its helper.
