//! Replay protection: the last sequence number accepted from each pod. Bounded: past
//! [`MAX_PODS`] pods, the least recently heard-from are forgotten.

use std::collections::HashMap;

use super::error::{Error, Result};

/// Pods remembered at most.
pub(crate) const MAX_PODS: usize = 65_536;

/// Last accepted sequence per `namespace/pod`.
#[derive(Debug, Default)]
pub(crate) struct SequenceBook {
    /// Per pod: last sequence and when it was recorded (a counter).
    last: HashMap<String, (u64, u64)>,
    clock: u64,
}

impl SequenceBook {
    /// Refuses `sequence` from `pod` unless it is after the last one accepted.
    pub(crate) fn check(&self, pod: &str, sequence: u64) -> Result<()> {
        match self.last.get(pod) {
            Some(&(last, _)) if sequence <= last => Err(Error::Replayed {
                pod: pod.to_string(),
                sequence,
                last,
            }),
            _ => Ok(()),
        }
    }

    /// Records `sequence` as the last accepted from `pod`.
    pub(crate) fn record(&mut self, pod: &str, sequence: u64) {
        self.clock += 1;
        if self.last.len() >= MAX_PODS && !self.last.contains_key(pod) {
            self.forget_oldest();
        }
        self.last.insert(pod.to_string(), (sequence, self.clock));
    }

    /// Forgets the eighth of pods heard from least recently.
    fn forget_oldest(&mut self) {
        let mut stamps: Vec<u64> = self.last.values().map(|&(_, stamp)| stamp).collect();
        let cut = stamps.len() / 8;
        let (_, &mut threshold, _) = stamps.select_nth_unstable(cut);
        self.last.retain(|_, &mut (_, stamp)| stamp > threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_later_sequences_pass() {
        let mut book = SequenceBook::default();
        assert!(book.check("shop/a", 0).is_ok());
        book.record("shop/a", 5);
        assert!(matches!(
            book.check("shop/a", 5),
            Err(Error::Replayed { last: 5, .. })
        ));
        assert!(book.check("shop/a", 4).is_err());
        assert!(book.check("shop/a", 6).is_ok());
        assert!(book.check("shop/b", 1).is_ok(), "pods are counted apart");
    }

    #[test]
    fn the_book_stays_bounded() {
        let mut book = SequenceBook::default();
        for pod in 0..MAX_PODS + 10 {
            book.record(&format!("ns/{pod}"), 1);
        }
        assert!(book.last.len() <= MAX_PODS);
        assert!(
            book.check(&format!("ns/{}", MAX_PODS + 9), 1).is_err(),
            "recent pods are kept"
        );
    }
}
