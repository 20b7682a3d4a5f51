//! Bytes of memory one connection's permessage-deflate state costs, for each setting: the zlib compressor
//! (measured from the C allocator with glibc's `mallinfo2`, after compressing 16 KiB so every buffer is
//! touched) and the inflater (its state plus the window). Run: `cargo run -p rill-zlib --example deflate_memory`.

use rill_ws::deflate::{bound, Deflate, Inflater};
use rill_zlib::ZlibDeflater;

fn allocated() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    unsafe { libc::mallinfo2().uordblks }
}

fn main() {
    let text = b"the model streams tokens to a browser over one socket, quickly. ".repeat(256);
    let mut out = vec![0u8; bound(text.len())];
    println!("| compressor window bits | memory level | compressor bytes |");
    println!("|---:|---:|---:|");
    for (bits, level) in [(9, 1), (10, 3), (12, 5), (13, 6), (15, 5), (15, 8)] {
        let before = allocated();
        let mut deflater = ZlibDeflater::new(6, bits, level).expect("zlib accepts the setting");
        deflater.deflate(&text, &mut out, true).expect("compresses");
        let cost = allocated() - before + std::mem::size_of::<ZlibDeflater>();
        println!("| {bits} | {level} | {cost} |");
        drop(deflater);
    }
    let state = std::mem::size_of::<Inflater<Box<[u8]>>>();
    println!();
    println!("| inflate window bits | inflater bytes (state {state} + window) |");
    println!("|---:|---:|");
    for bits in [9u32, 10, 11, 12, 13, 15] {
        println!("| {bits} | {} |", state + (1usize << bits));
    }
}
