//! Parse benchmark (written by the parser helper).

fn main() {}
