//! Seed derivation: every random draw comes from a ChaCha RNG seeded from the sweep seed and a stable tag.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG used everywhere: portable and reproducible across platforms and crate versions.
pub type Rng = ChaCha8Rng;

/// SplitMix64 finalizer: a bijective mix so nearby inputs give unrelated outputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed derived from `base` and a tag (e.g. "split", or a job id); stable across machines and runs.
pub fn derive_seed(base: u64, tag: &str) -> u64 {
    // FNV-1a over the tag, then mixed with the base.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(base ^ mix(h))
}

/// An RNG for `tag` under `base`.
pub fn rng_for(base: u64, tag: &str) -> Rng {
    Rng::seed_from_u64(derive_seed(base, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        // Golden values from an independent Python transcription of FNV-1a + SplitMix64 (u64 arithmetic); a change
        // here would silently change every sweep's splits and job seeds.
        assert_eq!(derive_seed(0, "split"), 12960832747649093366);
        assert_eq!(derive_seed(7, "shuffle"), 17285604087384328541);
        assert_ne!(derive_seed(0, "split"), derive_seed(1, "split"));
        assert_ne!(derive_seed(0, "a"), derive_seed(0, "b"));
        assert_eq!(derive_seed(0, ""), mix(mix(0xcbf2_9ce4_8422_2325)));
    }
}
