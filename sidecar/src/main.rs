//! `ripcord-sidecar`: the sidecar binary. Parses arguments and calls the library.

fn main() {}
