//! The floor under every tokio echo server: the least a WebSocket echo can do on tokio's current-thread
//! runtime. It answers the handshake without checking it, then per read finds the frames, unmasks them
//! in place (AVX2 where the CPU has it, as the libraries do) and writes every complete one back unmasked
//! from where it lies, with one vectored write per read (no copy of a payload). No UTF-8 check, no control frames but close, no fragments, no limits, no deadlines: it is
//! not a WebSocket server anyone should run, only a measure of what the runtime, the socket and the framing
//! cost (`scripts/callgrind.sh --servers floor`, docs/performance.md).

use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use rill_ws::frame::apply_mask;
use std::io::IoSlice;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    server::main("floor", serve);
}

async fn serve(mut stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    if !matches!(mode, Mode::Echo) {
        return Err("echo-floor only echoes".into());
    }
    let mut buf = vec![0u8; 256 << 10];
    let mut filled = handshake(&mut stream, &mut buf).await?;
    let mut frames = Vec::new();
    // Unanswered bytes begin at `at`.
    let mut at = 0;
    loop {
        let mut closed = false;
        while let Some((opcode, start, end)) = frame(&buf[at..filled]) {
            let (start, end) = (at + start, at + end);
            let key = buf[start - 4..start].try_into().expect("four bytes");
            apply_mask(&mut buf[start..end], key, 0);
            // The unmasked header is the masked one without its key: write it just before the payload.
            let (header, len) = header_of(opcode, end - start);
            let begin = start - len;
            buf[begin..start].copy_from_slice(&header[..len]);
            frames.push(begin..end);
            rill_benches::alloc_count::note_echo();
            at = end;
            if opcode == 0x8 {
                closed = true;
                break;
            }
        }
        write_frames(&mut stream, &buf, &mut frames).await?;
        if closed {
            return Ok(());
        }
        // A partial frame stays where it is while the buffer has room for the whole of it; otherwise it
        // moves to the front (and the buffer grows to hold it).
        if at == filled {
            (at, filled) = (0, 0);
        }
        let need = frame_len(&buf[at..filled]).unwrap_or(14);
        if at + need > buf.len() {
            buf.copy_within(at..filled, 0);
            filled -= at;
            at = 0;
            if need > buf.len() {
                buf.resize(need, 0);
            }
        }
        let read = stream.read(&mut buf[filled..]).await?;
        if read == 0 {
            return Ok(());
        }
        filled += read;
    }
}

/// Reads the request head and answers 101; returns how many bytes after the head are in `buf`.
async fn handshake(stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, BoxError> {
    let mut filled = 0;
    let end = loop {
        let read = stream.read(&mut buf[filled..]).await?;
        if read == 0 {
            return Err("closed during the handshake".into());
        }
        filled += read;
        if let Some(at) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..end])?;
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim())
        })
        .ok_or("no Sec-WebSocket-Key")?;
    let accept = rill_ws::handshake::accept_key(key.as_bytes());
    let mut response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: "
        .to_vec();
    response.extend_from_slice(&accept);
    response.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&response).await?;
    buf.copy_within(end..filled, 0);
    Ok(filled - end)
}

/// The total length of the masked frame that `bytes` begins with, once its header is complete.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    header(bytes).map(|(header, len)| header + len)
}

/// The opcode and payload range of the complete masked frame `bytes` begins with.
fn frame(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    let (header, len) = header(bytes)?;
    (bytes.len() >= header + len).then(|| (bytes[0] & 0x0f, header, header + len))
}

/// The header length (mask key included) and the payload length of the frame `bytes` begins with.
fn header(bytes: &[u8]) -> Option<(usize, usize)> {
    let short = *bytes.get(1)? as usize & 0x7f;
    let (extra, len) = match short {
        126 => (
            2,
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            8,
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
        ),
        len => (0, len),
    };
    Some((2 + extra + 4, len))
}

/// An unmasked final frame's header: its bytes and length.
fn header_of(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut out = [0x80 | opcode, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    match len {
        0..=125 => {
            out[1] = len as u8;
            (out, 2)
        }
        126..=0xffff => {
            out[1] = 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (out, 4)
        }
        _ => {
            out[1] = 127;
            out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (out, 10)
        }
    }
}

/// Writes the byte ranges `frames` of `buf` with vectored writes (up to 64 at a time), then forgets them.
async fn write_frames(
    stream: &mut TcpStream,
    buf: &[u8],
    frames: &mut Vec<std::ops::Range<usize>>,
) -> std::io::Result<()> {
    for group in frames.chunks(64) {
        let mut slices = [IoSlice::new(&[]); 64];
        for (slice, range) in slices.iter_mut().zip(group) {
            *slice = IoSlice::new(&buf[range.clone()]);
        }
        let mut rest = &mut slices[..group.len()];
        while !rest.is_empty() {
            let wrote = stream.write_vectored(rest).await?;
            if wrote == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, wrote);
        }
    }
    frames.clear();
    Ok(())
}
