//! `ripcord-bench`: the detection benchmark.

fn main() {}
