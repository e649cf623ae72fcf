//! HEP v3 (the Homer Encapsulation Protocol) packets: `HEP3`, a 16-bit total length, then chunks
//! of vendor id, type id and length (each 16-bit, big-endian, the length counting the 6-byte
//! chunk header). Generic chunks (vendor 0) carry addresses, ports, the capture time, the
//! payload's protocol, the capture agent's id and its authentication key, and the captured
//! message. Unknown chunks and vendors are skipped; every length is checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The magic that starts a packet.
pub const MAGIC: &[u8; 4] = b"HEP3";
/// Payload protocol type 1: SIP.
pub const PROTO_SIP: u8 = 1;

/// Why bytes are not a HEP v3 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HepError {
    /// Shorter than its header or its stated length.
    #[error("truncated HEP packet")]
    Truncated,
    /// Does not start with `HEP3`.
    #[error("not a HEP v3 packet")]
    Magic,
    /// A chunk's length is smaller than its header or runs past the packet.
    #[error("malformed chunk at byte {0}")]
    Chunk(usize),
    /// A known chunk has the wrong size for its type.
    #[error("chunk type {0} has the wrong size")]
    ChunkSize(u16),
    /// A compressed payload (chunk 16) — not accepted.
    #[error("compressed payloads are not accepted")]
    Compressed,
    /// No payload chunk.
    #[error("no payload")]
    NoPayload,
}

/// The transport the captured message travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// IP protocol 17.
    Udp,
    /// IP protocol 6.
    Tcp,
    /// IP protocol 132.
    Sctp,
    /// TLS: Kamailio's `siptrace` writes IP protocol 22 for messages received over TLS.
    Tls,
    /// Another number.
    Other(u8),
}

/// A decoded packet borrowing its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address and port.
    pub src: Option<(IpAddr, u16)>,
    /// Destination address and port.
    pub dst: Option<(IpAddr, u16)>,
    /// Transport of the captured message.
    pub transport: Option<Transport>,
    /// Capture time: seconds and microseconds since the epoch.
    pub time: Option<(u32, u32)>,
    /// Payload protocol (1 = SIP).
    pub proto_type: Option<u8>,
    /// The capture agent's id.
    pub capture_id: Option<u32>,
    /// The capture agent's authentication key (compare in constant time; never log it).
    pub auth_key: Option<&'a [u8]>,
    /// Correlation id, when the agent sent one.
    pub correlation_id: Option<&'a [u8]>,
    /// The captured message.
    pub payload: &'a [u8],
}

/// How many bytes the packet starting `buf` occupies, once its 6-byte header is there (for
/// framing HEP over TCP). `None` when fewer than 6 bytes are buffered.
pub fn frame_len(buf: &[u8]) -> Option<Result<usize, HepError>> {
    if buf.len() < 6 {
        return None;
    }
    if &buf[..4] != MAGIC {
        return Some(Err(HepError::Magic));
    }
    let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    Some(if len < 6 { Err(HepError::Truncated) } else { Ok(len) })
}

/// Decodes one packet; bytes after its stated length are ignored.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, HepError> {
    let len = match frame_len(buf) {
        None => return Err(HepError::Truncated),
        Some(r) => r?,
    };
    let body = buf.get(..len).ok_or(HepError::Truncated)?;
    let mut p = Packet {
        src: None,
        dst: None,
        transport: None,
        time: None,
        proto_type: None,
        capture_id: None,
        auth_key: None,
        correlation_id: None,
        payload: &[],
    };
    let (mut src_ip, mut dst_ip, mut src_port, mut dst_port) = (None, None, None, None);
    let (mut secs, mut usecs) = (None, None);
    let mut payload = None;
    let mut at = 6;
    while at < body.len() {
        let header = body.get(at..at + 6).ok_or(HepError::Chunk(at))?;
        let vendor = u16::from_be_bytes([header[0], header[1]]);
        let kind = u16::from_be_bytes([header[2], header[3]]);
        let clen = usize::from(u16::from_be_bytes([header[4], header[5]]));
        if clen < 6 {
            return Err(HepError::Chunk(at));
        }
        let value = body.get(at + 6..at + clen).ok_or(HepError::Chunk(at))?;
        at += clen;
        if vendor != 0 {
            continue;
        }
        let size = |n: usize| if value.len() == n { Ok(value) } else { Err(HepError::ChunkSize(kind)) };
        match kind {
            2 => {
                p.transport = Some(match size(1)?[0] {
                    17 => Transport::Udp,
                    6 => Transport::Tcp,
                    132 => Transport::Sctp,
                    22 => Transport::Tls,
                    other => Transport::Other(other),
                })
            }
            3 => {
                src_ip =
                    Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(size(4)?).map_err(|_| HepError::ChunkSize(3))?)))
            }
            4 => {
                dst_ip =
                    Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(size(4)?).map_err(|_| HepError::ChunkSize(4))?)))
            }
            5 => {
                src_ip = Some(IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(size(16)?).map_err(|_| HepError::ChunkSize(5))?,
                )))
            }
            6 => {
                dst_ip = Some(IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(size(16)?).map_err(|_| HepError::ChunkSize(6))?,
                )))
            }
            7 => src_port = Some(u16_of(size(2)?)),
            8 => dst_port = Some(u16_of(size(2)?)),
            9 => secs = Some(u32_of(size(4)?)),
            10 => usecs = Some(u32_of(size(4)?)),
            11 => p.proto_type = Some(size(1)?[0]),
            12 => p.capture_id = Some(u32_of(size(4)?)),
            14 => p.auth_key = Some(value),
            15 => payload = Some(value),
            16 => return Err(HepError::Compressed),
            17 => p.correlation_id = Some(value),
            _ => {}
        }
    }
    p.payload = payload.ok_or(HepError::NoPayload)?;
    p.src = src_ip.zip(src_port);
    p.dst = dst_ip.zip(dst_port);
    p.time = secs.map(|s| (s, usecs.unwrap_or(0)));
    Ok(p)
}

fn u16_of(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn u32_of(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Encodes a packet (for tests, benchmarks and replaying captures).
pub fn encode(p: &Packet<'_>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0, 0]);
    let mut chunk = |kind: u16, value: &[u8]| {
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&u16::try_from(value.len() + 6).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(value);
    };
    if let Some((ip, _)) = p.src {
        chunk(1, &[if ip.is_ipv4() { 2 } else { 10 }]);
    }
    if let Some(t) = p.transport {
        chunk(
            2,
            &[match t {
                Transport::Udp => 17,
                Transport::Tcp => 6,
                Transport::Sctp => 132,
                Transport::Tls => 22,
                Transport::Other(n) => n,
            }],
        );
    }
    for (addr, v4, v6, port_kind) in [(p.src, 3, 5, 7), (p.dst, 4, 6, 8)] {
        if let Some((ip, port)) = addr {
            match ip {
                IpAddr::V4(a) => chunk(v4, &a.octets()),
                IpAddr::V6(a) => chunk(v6, &a.octets()),
            }
            chunk(port_kind, &port.to_be_bytes());
        }
    }
    if let Some((s, us)) = p.time {
        chunk(9, &s.to_be_bytes());
        chunk(10, &us.to_be_bytes());
    }
    if let Some(t) = p.proto_type {
        chunk(11, &[t]);
    }
    if let Some(id) = p.capture_id {
        chunk(12, &id.to_be_bytes());
    }
    if let Some(k) = p.auth_key {
        chunk(14, k);
    }
    if let Some(c) = p.correlation_id {
        chunk(17, c);
    }
    chunk(15, p.payload);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    out[4..6].copy_from_slice(&len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet<'static> {
        Packet {
            src: Some((IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 15090)),
            dst: Some((IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 15060)),
            transport: Some(Transport::Udp),
            time: Some((1_795_132_800, 250_000)),
            proto_type: Some(PROTO_SIP),
            capture_id: Some(2001),
            auth_key: Some(b"callvault-key"),
            correlation_id: None,
            payload: b"OPTIONS sip:x SIP/2.0\r\n\r\n",
        }
    }

    #[test]
    fn round_trip_in_kamailio_chunk_order() {
        let bytes = encode(&sample());
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(frame_len(&bytes), Some(Ok(bytes.len())));
        assert_eq!(parse(&bytes).unwrap(), sample());
        // Trailing bytes (the next packet on a stream) are not part of this one.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(parse(&two).unwrap(), sample());
        // IPv6 and TLS (Kamailio's protocol 22).
        let v6 = Packet {
            src: Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 5061)),
            dst: Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 5062)),
            transport: Some(Transport::Tls),
            ..sample()
        };
        assert_eq!(parse(&encode(&v6)).unwrap(), v6);
    }

    #[test]
    fn damaged_packets_are_refused() {
        let good = encode(&sample());
        assert_eq!(parse(b"HEP"), Err(HepError::Truncated));
        assert_eq!(parse(b"HEP2\0\x10xxxxxxxxxx"), Err(HepError::Magic));
        assert_eq!(parse(&good[..good.len() - 1]), Err(HepError::Truncated));
        // Every truncation and a stated length beyond the buffer fail cleanly.
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad_chunk = good.clone();
        bad_chunk[10] = 0;
        bad_chunk[11] = 3; // first chunk claims 3 bytes (< header)
        assert_eq!(parse(&bad_chunk), Err(HepError::Chunk(6)));
        let mut wrong_size = good.clone();
        // Chunk 1 (family) is 7 bytes: make the next (transport) chunk claim type 7 (port, 2 bytes).
        wrong_size[6 + 7 + 3] = 7;
        assert_eq!(parse(&wrong_size), Err(HepError::ChunkSize(7)));
        let no_payload = Packet { payload: b"", ..sample() };
        let mut bytes = encode(&no_payload);
        let n = bytes.len();
        bytes.truncate(n - 6);
        let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
        bytes[4..6].copy_from_slice(&len);
        assert_eq!(parse(&bytes), Err(HepError::NoPayload));
    }
}
