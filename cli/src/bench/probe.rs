//! The machine's own speed while the load runs, so that a window that commits less can be
//! set against how fast a core was running at the time.
//!
//! A shared machine (a virtual one, with neighbours) does not run at one speed for ten
//! minutes. Every [`EVERY`], a probe thread verifies [`SIGNATURES`] ed25519 signatures one
//! at a time and times them on its own CPU clock (`CLOCK_THREAD_CPUTIME_ID`): the time the
//! validators take from the cores does not count, only how much work a core does in a
//! second of its time. The probe costs well under 1 % of one core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ledger::crypto::{Algorithm, PublicKey, SecretKey, Signature};

/// How often the probe runs.
const EVERY: Duration = Duration::from_secs(2);
/// Signatures verified in one probe: about 3 ms of a core.
const SIGNATURES: usize = 64;

/// A probe thread running until [`Probe::finish`].
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Duration, f64)>>,
}

impl Probe {
    /// Starts probing; times are counted from `started`.
    pub fn start(started: Instant) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let samples = samples();
            let mut rates = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                if let Some(rate) = verify_rate(&samples) {
                    rates.push((started.elapsed(), rate));
                }
                let into = started.elapsed().as_nanos() % EVERY.as_nanos();
                std::thread::park_timeout(EVERY - Duration::from_nanos(into as u64));
            }
            rates
        });
        Probe { stop, thread }
    }

    /// Stops the probe; its rates (signatures a second of one core's time), each with when
    /// it was taken.
    pub fn finish(self) -> Vec<(Duration, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        self.thread.join().unwrap_or_default()
    }
}

/// The median rate of each whole `width` of `load`, from the rates taken in it.
pub fn per_window(rates: &[(Duration, f64)], load: Duration, width: Duration) -> Vec<f64> {
    let count = (load.as_secs_f64() / width.as_secs_f64()) as usize;
    let mut windows: Vec<Vec<f64>> = vec![Vec::new(); count];
    for &(at, rate) in rates {
        let i = (at.as_secs_f64() / width.as_secs_f64()) as usize;
        if let Some(w) = windows.get_mut(i) {
            w.push(rate);
        }
    }
    windows
        .into_iter()
        .map(|mut w| {
            w.sort_by(f64::total_cmp);
            w.get(w.len() / 2).copied().unwrap_or(0.0)
        })
        .collect()
}

type Samples = (Vec<PublicKey>, [u8; 32], Vec<Signature>);

fn samples() -> Samples {
    let keys: Vec<SecretKey> = (0..SIGNATURES)
        .map(|i| SecretKey::from_seed_for(Algorithm::Ed25519, [i as u8 ^ 0x5a; 32]))
        .collect();
    let message = [7u8; 32];
    let signatures = keys
        .iter()
        .map(|k| k.sign(ledger::crypto::domain::TX, &message))
        .collect();
    (
        keys.iter().map(SecretKey::public_key).collect(),
        message,
        signatures,
    )
}

/// Signatures verified per second of this thread's CPU time, over one probe.
fn verify_rate((publics, message, signatures): &Samples) -> Option<f64> {
    let before = thread_cpu_time()?;
    for (public, signature) in publics.iter().zip(signatures) {
        public
            .verify(ledger::crypto::domain::TX, message, signature)
            .expect("a valid signature verifies");
    }
    let spent = thread_cpu_time()?.checked_sub(before)?;
    (!spent.is_zero()).then(|| SIGNATURES as f64 / spent.as_secs_f64())
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Option<Duration> {
    // SAFETY: `clock_gettime` writes only into `now`, a plain struct owned here.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is valid for writes; the clock id is a constant the kernel knows.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return None;
    }
    Some(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_window_gets_the_median_of_its_rates_and_a_window_without_any_gets_zero() {
        let s = Duration::from_secs;
        let rates = [
            (s(1), 10.0),
            (s(3), 30.0),
            (s(5), 20.0),
            (s(25), 7.0),
            (s(65), 1.0),
        ];
        let got = per_window(&rates, s(60), s(20));
        assert_eq!(got, vec![20.0, 7.0, 0.0]);
    }

    #[test]
    fn a_probe_measures_a_positive_rate() {
        let rate = verify_rate(&samples()).expect("a thread CPU clock");
        assert!(rate > 100.0, "{rate}");
    }
}
