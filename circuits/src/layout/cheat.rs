//! Test-only dishonest hints, for the forgery suite ([`super::forgery`]).
//!
//! A gadget's witness has free *hints* the prover chooses and the constraints then check: a
//! quotient and its remainder, a claimed maximum. A cheating prover picks another hint and
//! writes every later cell honestly from it, so the witness is consistent everywhere except
//! the one constraint that should pin the hint (a range check on the remainder or on a gap).
//! Gadgets ask [`take`] at each hint whose dishonest choice only a range check can stop;
//! the forgery suite arms one site at a time ([`armed`]) and keeps the forgeries that move
//! the output. Outside test builds [`take`] is a constant `false`.

/// The kind of hint a site offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// A requantization's quotient (the remainder then leaves its range).
    Rescale,
    /// A requantization's clamp (a bound claimed that the value does not reach; its gap
    /// turns negative): a Relu, a Clip, a comparison's 0/1 step.
    Clamp,
    /// A division's rounded quotient (the remainder then leaves `[0, 2d)`).
    Div,
    /// A pooling window's claimed maximum (another tap; a gap turns negative).
    MaxPool,
}

#[cfg(test)]
mod imp {
    use super::Site;
    use std::cell::Cell;

    thread_local! {
        static TARGET: Cell<Option<(Site, usize)>> = const { Cell::new(None) };
        static SEEN: Cell<usize> = const { Cell::new(0) };
    }

    /// Runs `f` with the `n`-th site of kind `site` cheating; returns `f`'s result and whether
    /// that site was reached.
    pub fn armed<T>(site: Site, n: usize, f: impl FnOnce() -> T) -> (T, bool) {
        TARGET.with(|t| t.set(Some((site, n))));
        SEEN.with(|s| s.set(0));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        TARGET.with(|t| t.set(None));
        let reached = SEEN.with(|s| s.get()) > n;
        (r.unwrap_or_else(|p| std::panic::resume_unwind(p)), reached)
    }

    pub fn take(site: Site) -> bool {
        TARGET.with(|t| match t.get() {
            Some((s, n)) if s == site => SEEN.with(|c| {
                let i = c.get();
                c.set(i + 1);
                i == n
            }),
            _ => false,
        })
    }

    pub fn active() -> bool {
        TARGET.with(|t| t.get().is_some())
    }
}

#[cfg(test)]
pub use imp::armed;

/// Whether this hint site should cheat (only ever in test builds, when armed).
#[inline]
pub fn take(site: Site) -> bool {
    #[cfg(test)]
    {
        imp::take(site)
    }
    #[cfg(not(test))]
    {
        let _ = site;
        false
    }
}

/// Whether a cheat is armed: out-of-range hints are then expected (relaxes debug checks).
#[inline]
pub fn active() -> bool {
    #[cfg(test)]
    {
        imp::active()
    }
    #[cfg(not(test))]
    {
        false
    }
}
