//! Streaming format cost: MB/s of sealing and opening an object through the envelope layer
//! (64 KiB AES-256-GCM segments, fed in 1 MiB pieces like an upload) against one-shot AES-256-GCM
//! over the same bytes with aws-lc-rs, the fastest implementation on the machine. Also small
//! objects per second (1 KiB, the size of a chat message or form).
//! `cargo bench -p callvault-crypto --bench stream_throughput -- [MiB]`; `scripts/bench-stream.sh`
//! adds `openssl speed -evp aes-256-gcm` in the same run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failure aborts the run"
)]

use std::time::Instant;

use callvault_crypto::aead::Aes256Gcm;
use callvault_crypto::envelope::{BlobHeader, DataKey, NewObject, ObjectContext, Opener, Sealer, seal_blob};

use callvault_crypto::kek::StaticKek;
use callvault_crypto::secret::SecretBytes;

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let mib: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(256);
    let n = mib * 1024 * 1024;
    let data: Vec<u8> = (0..n).map(|i| (i * 131 % 251) as u8).collect();
    let kek = StaticKek::new(SecretBytes::new(vec![9; 32]));
    let (dk, _) = DataKey::generate(&kek, &[1; 16], 1).unwrap();
    let ctx = ObjectContext { tenant: [1; 16], object: [2; 16], class: "voice" };
    let mb = n as f64 / 1e6;
    if let Ok(mode) = std::env::var("CV_CALLGRIND") {
        callgrind_mode(&mode, &data, &dk, &ctx);
        return;
    }

    // One-shot AES-256-GCM over the whole buffer, in place (no copy, no segmentation).
    let raw = Aes256Gcm::new(&[3; 32]).unwrap();
    let mut buf = data.clone();
    buf.reserve(16);
    let t_raw = best_of(5, || {
        buf.truncate(n);
        raw.seal_in_place(&[0; 12], b"aad", &mut buf).unwrap();
    });
    let raw_mbs = mb / t_raw;
    // One-shot open of the same buffer, in place (a fresh copy outside the timed part).
    let sealed_once = {
        let mut b = data.clone();
        raw.seal_in_place(&[0; 12], b"aad", &mut b).unwrap();
        b
    };
    let mut work1 = sealed_once.clone();
    let mut t_raw_open = f64::MAX;
    for _ in 0..9 {
        work1.copy_from_slice(&sealed_once);
        let t = Instant::now();
        raw.open_in_place(&[0; 12], b"aad", &mut work1).unwrap();
        t_raw_open = t_raw_open.min(t.elapsed().as_secs_f64());
    }
    let raw_open_mbs = mb / t_raw_open;
    // The bare primitive over 64 KiB chunks with an 80-byte AAD (the per-segment cost floor).
    let aad80 = [0u8; 80];
    let t_chunks = best_of(5, || {
        for (i, c) in buf[..n].chunks_mut(64 * 1024).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            std::hint::black_box(raw.seal_detached(&nonce, &aad80, c).unwrap());
        }
    });
    let chunk_mbs = mb / t_chunks;
    // Bare open over sealed 64 KiB chunks.
    let mut sealed_chunks = Vec::with_capacity(n + n / 4096 + 16);
    for (i, c) in data.chunks(64 * 1024).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let start = sealed_chunks.len();
        sealed_chunks.extend_from_slice(c);
        let tag = raw.seal_detached(&nonce, &aad80, &mut sealed_chunks[start..]).unwrap();
        sealed_chunks.extend_from_slice(&tag);
    }
    let mut work2 = sealed_chunks.clone();
    let mut t_chunk_open = f64::MAX;
    for _ in 0..9 {
        work2.copy_from_slice(&sealed_chunks);
        let t = Instant::now();
        for (i, c) in work2.chunks_mut(64 * 1024 + 16).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            std::hint::black_box(raw.open_in_place(&nonce, &aad80, c).unwrap());
        }
        t_chunk_open = t_chunk_open.min(t.elapsed().as_secs_f64());
    }
    let chunk_open_mbs = mb / t_chunk_open;
    // Bare out-of-place open over the same chunks into a plaintext buffer.
    let mut plain_out = vec![0u8; 64 * 1024];
    let t_gather = best_of(9, || {
        for (i, c) in sealed_chunks.chunks(64 * 1024 + 16).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let (ct, tag) = c.split_at(c.len() - 16);
            raw.open_to(&nonce, &aad80, ct, tag, &mut plain_out[..ct.len()]).unwrap();
            std::hint::black_box(&plain_out);
        }
    });
    let gather_mbs = mb / t_gather;

    // The upload path: request frames (16 KiB here) gathered into a 64 KiB segment buffer, which
    // is sealed where it lies; sealed segments handed on one at a time (to the blob file).
    let mut out = Vec::with_capacity(2 * 1024 * 1024);
    let mut segment: Vec<u8> = Vec::with_capacity(64 * 1024 + 4096 * usize::from(std::env::var_os("CV_PAD").is_some()));
    let t_seal = best_of(5, || {
        let NewObject { mut sealer, .. } = Sealer::start(&dk, &ctx, n as u64).unwrap();
        segment.clear();
        for frame in data.chunks(16 * 1024) {
            segment.extend_from_slice(frame);
            if segment.len() == 64 * 1024 {
                let tag = sealer.seal_segment_in_place(&mut segment).unwrap();
                std::hint::black_box((&segment, tag));
                segment.clear();
            }
        }
        if !segment.is_empty() {
            std::hint::black_box(sealer.seal_segment_in_place(&mut segment).unwrap());
        }
        out.clear();
        sealer.finish(&mut out).unwrap();
    });
    let seal_mbs = mb / t_seal;

    // Streaming seal of segments that lie in a buffer the caller owns (a blob being transformed,
    // a file read segment by segment): each segment sealed where it lies, tags handed on beside
    // it (written with the segment as a vectored write): no copy.
    let mut work = data.clone();
    let mut tags = Vec::with_capacity(n / 65536 + 1);
    let t_seal_in_place = best_of(5, || {
        tags.clear();
        let NewObject { mut sealer, .. } = Sealer::start(&dk, &ctx, n as u64).unwrap();
        for seg in work.chunks_mut(64 * 1024) {
            tags.push(sealer.seal_segment_in_place(seg).unwrap());
        }
        sealer.finish(&mut out).unwrap();
        std::hint::black_box(&tags);
    });
    let seal_in_place_mbs = mb / t_seal_in_place;

    // Streaming open, segment by segment in place (as a download reads a blob file segment by
    // segment); a fresh copy of the blob is made outside the timed part.
    let (blob, wrapped) = seal_blob(&dk, &ctx, &data).unwrap();
    let header = BlobHeader::decode(&blob).unwrap();
    // The body as a reader holds it: read from the file into an allocated (aligned) buffer,
    // without the 24-byte header in front.
    let body = &blob[callvault_crypto::envelope::HEADER_LEN..];
    let mut work = body.to_vec();
    // Interleaved rounds: the streaming open and the one-shot open of the same bytes run back
    // to back in each round under the same machine conditions; the best round of each counts.
    let mut oneshot_sealed = data.clone();
    raw.seal_in_place(&[1; 12], b"aad", &mut oneshot_sealed).unwrap();
    let mut t_open = f64::MAX;
    let mut t_open_ref = f64::MAX;
    for _ in 0..9 {
        // The same memory for both, so page placement cannot favour one of them.
        work[..oneshot_sealed.len()].copy_from_slice(&oneshot_sealed);
        let t = Instant::now();
        raw.open_in_place(&[1; 12], b"aad", &mut work[..oneshot_sealed.len()]).unwrap();
        t_open_ref = t_open_ref.min(t.elapsed().as_secs_f64());
        work.copy_from_slice(body);
        let t = Instant::now();
        let opener = Opener::new(&dk, &ctx, &header, &wrapped).unwrap();
        let mut total = 0usize;
        for i in 0..header.segments() {
            let (start, len) = opener.segment_location(i);
            let start = start as usize - callvault_crypto::envelope::HEADER_LEN;
            total += opener.open_segment(i, &mut work[start..start + len]).unwrap().len();
        }
        t_open = t_open.min(t.elapsed().as_secs_f64());
        assert_eq!(total, n);
    }
    let open_ref_mbs = mb / t_open_ref;
    let open_mbs = mb / t_open;

    // Small objects: seal + open of 1 KiB, objects per second.
    let small = vec![7u8; 1024];
    let count = 20_000;
    let t_small = best_of(3, || {
        for _ in 0..count {
            let (b, k) = seal_blob(&dk, &ctx, &small).unwrap();
            std::hint::black_box(callvault_crypto::envelope::open_blob(Some(&dk), &ctx, &b, Some(&k)).unwrap());
        }
    });

    println!("object size {mib} MiB, best of 5, one core");
    println!("  one-shot AES-256-GCM (aws-lc-rs) : {raw_mbs:>8.0} MB/s");
    println!("  one-shot open (aws-lc-rs)        : {raw_open_mbs:>8.0} MB/s");
    println!("  bare primitive, 64 KiB chunks    : {chunk_mbs:>8.0} MB/s");
    println!("  bare open, 64 KiB chunks         : {chunk_open_mbs:>8.0} MB/s");
    println!("  bare open out of place, 64 KiB   : {gather_mbs:>8.0} MB/s");
    println!("  streaming seal, upload path      : {seal_mbs:>8.0} MB/s  ({:.2}x one-shot)", seal_mbs / raw_mbs);
    println!(
        "  streaming seal, in place         : {seal_in_place_mbs:>8.0} MB/s  ({:.2}x one-shot)",
        seal_in_place_mbs / raw_mbs
    );
    println!(
        "  streaming open (64 KiB segments) : {open_mbs:>8.0} MB/s  ({:.2}x one-shot seal, {:.2}x one-shot open {open_ref_mbs:.0} MB/s interleaved)",
        open_mbs / raw_mbs,
        open_mbs / open_ref_mbs
    );
    println!("  1 KiB objects seal+open          : {:>8.0} objects/s", count as f64 / t_small);
}

/// One operation for `valgrind --tool=callgrind` (instruction counts are deterministic, unlike
/// wall time on a shared machine): `setup` prepares both ciphertexts; `oneshot` and `stream`
/// also open them, one-shot or segment by segment. The differences to `setup` are the opens.
fn callgrind_mode(mode: &str, data: &[u8], dk: &DataKey, ctx: &ObjectContext<'_>) {
    let raw = Aes256Gcm::new(&[3; 32]).unwrap();
    let mut oneshot = data.to_vec();
    raw.seal_in_place(&[1; 12], b"aad", &mut oneshot).unwrap();
    let (blob, wrapped) = seal_blob(dk, ctx, data).unwrap();
    let header = BlobHeader::decode(&blob).unwrap();
    let mut body = blob[callvault_crypto::envelope::HEADER_LEN..].to_vec();
    let mut work = data.to_vec();
    work.reserve(16);
    match mode {
        "seal-oneshot" => raw.seal_in_place(&[2; 12], b"aad", &mut work).unwrap(),
        "seal-stream" => {
            let NewObject { mut sealer, .. } = Sealer::start(dk, ctx, data.len() as u64).unwrap();
            for seg in work.chunks_mut(64 * 1024) {
                std::hint::black_box(sealer.seal_segment_in_place(seg).unwrap());
            }
        }
        "oneshot" => {
            std::hint::black_box(raw.open_in_place(&[1; 12], b"aad", &mut oneshot).unwrap());
        }
        "stream" => {
            let opener = Opener::new(dk, ctx, &header, &wrapped).unwrap();
            for i in 0..header.segments() {
                let (start, len) = opener.segment_location(i);
                let start = start as usize - callvault_crypto::envelope::HEADER_LEN;
                std::hint::black_box(opener.open_segment(i, &mut body[start..start + len]).unwrap());
            }
        }
        _ => {}
    }
}
