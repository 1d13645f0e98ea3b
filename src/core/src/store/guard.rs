//! The guard: `state/<name>.guard`, a small file made at enrollment and afterwards only
//! overwritten in place (pwrite + fdatasync into blocks it already owns), holding what a
//! sign-in must never lose — the last accepted step, the failure count and the lockout.
//!
//! Overwriting allocated blocks needs no free block or inode, so it still works when the disk
//! (or its inodes) are full and the state file's temporary copy cannot be made. Two slots, each
//! with a sequence number and a checksum; a write goes to the older slot, so a torn write
//! leaves the other one intact. On a read-only disk it fails like everything else.
#![forbid(unsafe_code)]

/// Bytes per slot; the file is two slots.
const SLOT: usize = 64;
/// Size of a guard file.
pub const GUARD_SIZE: usize = 2 * SLOT;
const MAGIC: &[u8; 4] = b"TFG1";
/// Bytes of the enrollment id kept (record ids are 16 hex characters).
const ID_LEN: usize = 16;

/// One slot's contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guard {
    pub seq: u64,
    /// The enrollment id, NUL-padded (all zeros for records without an id).
    pub enrollment: [u8; ID_LEN],
    pub last_step: u64,
    pub failures: u32,
    pub locked_until: u64,
}

impl Guard {
    /// The id field for an enrollment id (longer ids are cut; ids are ours, 16 characters).
    pub fn id_bytes(id: &str) -> [u8; ID_LEN] {
        let mut out = [0u8; ID_LEN];
        for (o, b) in out.iter_mut().zip(id.bytes()) {
            *o = b;
        }
        out
    }

    /// Whether this slot belongs to the enrollment `id`.
    pub fn belongs_to(&self, id: &str) -> bool {
        self.enrollment == Self::id_bytes(id)
    }

    /// The slot's bytes.
    pub fn encode(&self) -> [u8; SLOT] {
        let mut b = [0u8; SLOT];
        b[0..4].copy_from_slice(MAGIC);
        b[4..12].copy_from_slice(&self.seq.to_le_bytes());
        b[12..28].copy_from_slice(&self.enrollment);
        b[28..36].copy_from_slice(&self.last_step.to_le_bytes());
        b[36..40].copy_from_slice(&self.failures.to_le_bytes());
        b[40..48].copy_from_slice(&self.locked_until.to_le_bytes());
        let sum = fnv1a(&b[..56]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != SLOT || &b[0..4] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| b.get(i..i + 8)?.try_into().ok().map(u64::from_le_bytes);
        if u64_at(56)? != fnv1a(&b[..56]) {
            return None;
        }
        let mut enrollment = [0u8; ID_LEN];
        enrollment.copy_from_slice(b.get(12..28)?);
        Some(Guard {
            seq: u64_at(4)?,
            enrollment,
            last_step: u64_at(28)?,
            failures: u32::from_le_bytes(b.get(36..40)?.try_into().ok()?),
            locked_until: u64_at(40)?,
        })
    }

    /// Byte offset where the slot for `seq` lives.
    pub fn offset(seq: u64) -> u64 {
        (seq % 2) * SLOT as u64
    }
}

/// The newest valid slot of a guard file's contents; `None` if neither is valid (a new file
/// is all zeros). A file of the wrong size is treated like one without valid slots.
pub fn newest(contents: &[u8]) -> Option<Guard> {
    if contents.len() != GUARD_SIZE {
        return None;
    }
    let a = Guard::decode(&contents[..SLOT]);
    let b = Guard::decode(&contents[SLOT..]);
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.seq >= b.seq { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// 64-bit FNV-1a: detects a torn or stale slot (not an adversary: the file is root's, 0600).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_valid_slot_wins_and_a_torn_slot_is_ignored() {
        let g = |seq| Guard {
            seq,
            enrollment: Guard::id_bytes("0123456789abcdef"),
            last_step: seq * 10,
            failures: 3,
            locked_until: 7,
        };
        let mut file = vec![0u8; GUARD_SIZE];
        assert_eq!(newest(&file), None, "a new file has no valid slot");
        for seq in 1..=3u64 {
            let at = usize::try_from(Guard::offset(seq)).unwrap_or(0);
            file[at..at + SLOT].copy_from_slice(&g(seq).encode());
        }
        assert_eq!(newest(&file), Some(g(3)));
        // Tear the newest slot (seq 3 lives in slot 1): the previous one is still there.
        file[SLOT + 30] ^= 0xff;
        assert_eq!(newest(&file), Some(g(2)));
        assert!(g(2).belongs_to("0123456789abcdef"));
        assert!(!g(2).belongs_to(""));
        assert_eq!(newest(&file[..SLOT]), None);
    }
}
