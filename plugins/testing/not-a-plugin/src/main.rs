//! Test fixture: a WebAssembly component for the `wasi:cli/command` world. Quarry must refuse
//! it as the wrong world.

fn main() {
    println!("hello from a command, not a plugin");
}
