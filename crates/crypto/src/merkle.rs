//! The Merkle tree of RFC 9162 (Certificate Transparency v2), section 2.1: tree hashes,
//! inclusion and consistency proofs and their verification, and a compact range for O(log n)
//! appends.

use aws_lc_rs::digest;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof did not verify, or could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index is beyond the tree size")]
    IndexBeyondSize,
    /// The proof has too many or too few hashes.
    #[error("the proof has the wrong number of hashes")]
    WrongProofSize,
    /// The recomputed root differs from the expected one.
    #[error("the recomputed root does not match")]
    RootMismatch,
    /// The second tree is smaller than the first.
    #[error("the newer tree is smaller than the older one")]
    NewerTreeSmaller,
    /// There is nothing to prove in an empty tree.
    #[error("the tree is empty")]
    EmptyTree,
    /// A serialised compact range is malformed.
    #[error("malformed compact range")]
    Malformed,
}

/// The hash of a leaf: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    to_hash(ctx.finish())
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    to_hash(ctx.finish())
}

fn to_hash(d: digest::Digest) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    to_hash(digest::digest(&digest::SHA256, b""))
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for l in leaves {
        range.push(*l);
    }
    range.root()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The audit path PATH(m, D[n]) of RFC 9162 2.1.3.1, over leaf hashes.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let m = usize::try_from(index).map_err(|_| ProofError::IndexBeyondSize)?;
    if leaves.is_empty() {
        return Err(ProofError::EmptyTree);
    }
    if m >= leaves.len() {
        return Err(ProofError::IndexBeyondSize);
    }
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof PROOF(m, D[n]) of RFC 9162 2.1.4.1; `leaves` is the newer tree.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let m = usize::try_from(old_size).map_err(|_| ProofError::NewerTreeSmaller)?;
    if m > leaves.len() {
        return Err(ProofError::NewerTreeSmaller);
    }
    let mut out = Vec::new();
    if m == 0 || m == leaves.len() {
        return Ok(out);
    }
    subproof(m, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verifies an inclusion proof exactly as RFC 9162 2.1.3.2 describes.
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexBeyondSize);
    }
    let mut fnode = index;
    let mut snode = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongProofSize);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongProofSize);
    }
    if &r != expected_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof exactly as RFC 9162 2.1.4.2 describes (with the trivial cases
/// first = 0 and first = second accepted with an empty proof).
pub fn verify_consistency(
    first_size: u64,
    second_size: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if second_size < first_size {
        return Err(ProofError::NewerTreeSmaller);
    }
    if first_size == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongProofSize) };
    }
    if first_size == second_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofSize);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongProofSize);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first_size.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let mut fnode = first_size - 1;
    let mut snode = second_size - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongProofSize);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongProofSize);
    }
    if &fr != first_root || &sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The roots of the perfect subtrees along the right edge of a tree: enough to append leaves in
/// O(log n) and to compute the root without the leaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.hashes.push(leaf);
        self.size += 1;
        let mut merges = self.size.trailing_zeros();
        while merges > 0 {
            // Each merge consumes two entries that the size's binary form guarantees exist.
            let (Some(right), Some(left)) = (self.hashes.pop(), self.hashes.pop()) else {
                break;
            };
            self.hashes.push(node_hash(&left, &right));
            merges -= 1;
        }
    }

    /// The tree's root (MTH).
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, h| node_hash(h, &acc))
    }

    /// Size (u64 big-endian) followed by the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Parses [`CompactRange::to_bytes`]; the number of hashes must equal popcount(size).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() < 8 || !(bytes.len() - 8).is_multiple_of(32) {
            return Err(ProofError::Malformed);
        }
        let (size_bytes, rest) = bytes.split_at(8);
        let mut s = [0u8; 8];
        s.copy_from_slice(size_bytes);
        let size = u64::from_be_bytes(s);
        let hashes: Vec<Hash> = rest
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if hashes.len() != size.count_ones() as usize {
            return Err(ProofError::Malformed);
        }
        Ok(Self { size, hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct_leaves() -> Vec<Hash> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| leaf_hash(&hex::decode(h).unwrap()))
            .collect()
    }

    #[test]
    fn certificate_transparency_roots() {
        // The reference roots for the first 1..=8 leaves of the CT test vectors.
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves = ct_leaves();
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves[..=n])), *want, "size {}", n + 1);
        }
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn every_inclusion_proof_verifies() {
        for n in 1..=70usize {
            let l = leaves(n);
            let r = root(&l);
            for m in 0..n {
                let p = inclusion_proof(&l, m as u64).unwrap();
                verify_inclusion(m as u64, n as u64, &l[m], &p, &r).unwrap_or_else(|e| panic!("n={n} m={m}: {e}"));
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies() {
        for n in 1..=70usize {
            let l = leaves(n);
            let r2 = root(&l);
            for m in 0..=n {
                let p = consistency_proof(&l, m as u64).unwrap();
                let r1 = root(&l[..m]);
                verify_consistency(m as u64, n as u64, &r1, &r2, &p).unwrap_or_else(|e| panic!("n={n} m={m}: {e}"));
            }
        }
    }

    #[test]
    fn inclusion_failures() {
        let l = leaves(13);
        let r = root(&l);
        let p = inclusion_proof(&l, 5).unwrap();
        let mut wrong_root = r;
        wrong_root[0] ^= 1;
        assert_eq!(verify_inclusion(5, 13, &l[5], &p, &wrong_root), Err(ProofError::RootMismatch));
        assert_eq!(verify_inclusion(13, 13, &l[5], &p, &r), Err(ProofError::IndexBeyondSize));
        let mut long = p.clone();
        long.push(r);
        assert_eq!(verify_inclusion(5, 13, &l[5], &long, &r), Err(ProofError::WrongProofSize));
        assert_eq!(verify_inclusion(5, 13, &l[5], &p[..p.len() - 1], &r), Err(ProofError::WrongProofSize));
        let mut flipped = p.clone();
        flipped[1][7] ^= 0x80;
        assert_eq!(verify_inclusion(5, 13, &l[5], &flipped, &r), Err(ProofError::RootMismatch));
        assert_eq!(verify_inclusion(6, 13, &l[5], &p, &r), Err(ProofError::RootMismatch));
        assert_eq!(inclusion_proof(&l, 13), Err(ProofError::IndexBeyondSize));
        assert_eq!(inclusion_proof(&[], 0), Err(ProofError::EmptyTree));
    }

    #[test]
    fn consistency_failures() {
        let l = leaves(20);
        let (r1, r2) = (root(&l[..7]), root(&l));
        let p = consistency_proof(&l, 7).unwrap();
        let mut wrong = r2;
        wrong[31] ^= 1;
        assert_eq!(verify_consistency(7, 20, &r1, &wrong, &p), Err(ProofError::RootMismatch));
        assert_eq!(verify_consistency(7, 20, &wrong, &r2, &p), Err(ProofError::RootMismatch));
        assert_eq!(verify_consistency(20, 7, &r2, &r1, &p), Err(ProofError::NewerTreeSmaller));
        let mut long = p.clone();
        long.push(r1);
        assert_eq!(verify_consistency(7, 20, &r1, &r2, &long), Err(ProofError::WrongProofSize));
        assert_eq!(verify_consistency(7, 20, &r1, &r2, &p[..p.len() - 1]), Err(ProofError::WrongProofSize));
        assert_eq!(verify_consistency(7, 20, &r1, &r2, &[]), Err(ProofError::WrongProofSize));
        assert_eq!(consistency_proof(&l, 21), Err(ProofError::NewerTreeSmaller));
    }

    #[test]
    fn compact_range_matches_and_round_trips() {
        let l = leaves(300);
        let mut range = CompactRange::new();
        assert_eq!(range.root(), root(&[]));
        for (i, h) in l.iter().enumerate() {
            range.push(*h);
            assert_eq!(range.root(), root(&l[..=i]), "size {}", i + 1);
            assert_eq!(CompactRange::from_bytes(&range.to_bytes()).unwrap(), range);
        }
        assert_eq!(CompactRange::from_bytes(&[0; 7]), Err(ProofError::Malformed));
        let mut bad = range.to_bytes();
        bad.truncate(bad.len() - 32);
        assert_eq!(CompactRange::from_bytes(&bad), Err(ProofError::Malformed));
    }
}
