//! Test plugin: a measure that behaves well or badly on demand.
//!
//! The engine must turn each bad behaviour into an error measurement with a
//! clear reason, within the deadline, and go on. Never register it outside
//! tests.

use serde::Deserialize;
use serde_json::json;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Return `value` (a trivial, well-behaved measure).
    Constant,
    /// Spin forever.
    Loop,
    /// Allocate without bound.
    Alloc,
    /// Recurse without bound.
    Recurse,
    /// Panic (traps: guests are built with panic=abort).
    Panic,
    /// Return `bytes` bytes of details.
    BigOutput,
    /// Return a measurement that breaks the contract (no value, bad JSON).
    Garbage,
    /// Return NaN.
    NotANumber,
    /// Read `path` and return its length; fails unless granted.
    Read,
    /// Sleep for `value` seconds (a wait in a host call, not guest code).
    Sleep,
    /// Call `exit(0)` instead of returning.
    Exit,
    /// Write `bytes` bytes to stderr, then panic.
    ChattyPanic,
    /// Open the file at `path` as many times as possible and keep it open.
    Hoard,
    /// Try to create `path` (granted directories are read-only).
    Write,
    /// Report how many environment variables, arguments and sockets it sees.
    Ambient,
    /// Return `text` as the text value (and `text` as an error message when
    /// `value` is negative): terminal escapes in plugin output.
    Text,
    /// Return `value` with observed-at `value` as Unix milliseconds.
    ObservedAt,
    /// Ask the host for `bytes` random bytes in one call.
    Random,
    /// Report what an earlier run left in this instance's memory (a static
    /// counter, and marks in `bytes` bytes of fresh heap, read without
    /// initialising them as a hostile plugin would), then leave marks in
    /// both: a fresh instance reports 0.
    Remember,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub behaviour: Behaviour,
    #[serde(default)]
    pub value: f64,
    #[serde(default)]
    pub bytes: usize,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub text: String,
    /// A secret the probe never uses: `instance show` must mask it.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub token: String,
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    recurse(std::hint::black_box(n + 1)).wrapping_add(1)
}

pub struct Probe;

impl Measure for Probe {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "probe",
            version: "1.0.0",
            name: "Probe",
            description: "Test plugin that misbehaves on demand.",
            kind: Kind::Direct,
            unit: "1",
            scale: Scale::Ratio,
            output: "whatever the behaviour asks",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        match config.behaviour {
            Behaviour::Constant => Ok(Measurement::value(config.value)),
            Behaviour::Loop => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            Behaviour::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Behaviour::Recurse => Ok(Measurement::value(recurse(0) as f64)),
            Behaviour::Panic => panic!("probe asked to panic"),
            Behaviour::BigOutput => {
                Ok(Measurement::value(1.0)
                    .with_details(json!({ "blob": "x".repeat(config.bytes) })))
            }
            Behaviour::Garbage => Ok(Measurement {
                value: None,
                text: None,
                details: None,
                details_json: None,
                observed_at_ms: None,
            }),
            Behaviour::NotANumber => Ok(Measurement::value(f64::NAN)),
            Behaviour::Read => {
                let bytes = smm_sdk::read_input(&config.path)?;
                Ok(Measurement::value(bytes.len() as f64))
            }
            Behaviour::Sleep => {
                std::thread::sleep(std::time::Duration::from_secs_f64(config.value));
                Ok(Measurement::value(config.value))
            }
            Behaviour::Exit => std::process::exit(0),
            Behaviour::ChattyPanic => {
                for _ in 0..config.bytes / 64 {
                    eprintln!("{}", "noise ".repeat(10));
                }
                panic!("the last words of a chatty plugin")
            }
            Behaviour::Hoard => {
                let mut files = Vec::new();
                while let Ok(f) = std::fs::File::open(&config.path) {
                    files.push(f);
                    if files.len() >= 100_000 {
                        break;
                    }
                }
                Ok(Measurement::value(files.len() as f64))
            }
            Behaviour::Write => match std::fs::write(&config.path, b"written by a plugin") {
                Ok(()) => Ok(Measurement::value(1.0)),
                Err(e) => Err(Error::input(format!("cannot write {}: {e}", config.path))),
            },
            Behaviour::Text if config.value < 0.0 => Err(Error::input(config.text)),
            Behaviour::Text => {
                Ok(Measurement::text(config.text.clone())
                    .with_details(json!({ "note": config.text })))
            }
            Behaviour::ObservedAt => Ok(Measurement::value(1.0).observed_at(config.value as i64)),
            Behaviour::Random => {
                let bytes = wasip2::random::random::get_random_bytes(config.bytes as u64);
                Ok(Measurement::value(bytes.len() as f64))
            }
            Behaviour::Remember => {
                use std::sync::atomic::{AtomicU32, Ordering};
                static RUNS: AtomicU32 = AtomicU32::new(0);
                let earlier = RUNS.fetch_add(1, Ordering::Relaxed) as usize;
                const MARK: u64 = u64::from_le_bytes(*b"smm-mark");
                let words = config.bytes.max(8) / 8;
                let layout = std::alloc::Layout::array::<u64>(words).unwrap();
                // SAFETY: a valid layout; the words are read as the machine
                // holds them (wasm memory is always initialised), then all
                // written; the block is freed with the same layout.
                let marks = |write: bool| unsafe {
                    let heap = std::alloc::alloc(layout).cast::<u64>();
                    let found = (0..words)
                        .filter(|&i| std::ptr::read_volatile(heap.add(i)) == MARK)
                        .count();
                    if write {
                        for i in 0..words {
                            heap.add(i).write(MARK);
                        }
                    }
                    std::alloc::dealloc(heap.cast(), layout);
                    found
                };
                let left = marks(true);
                // The same allocation again, in this run: the marks just
                // freed are seen (the check above can see them).
                let seen = marks(false);
                Ok(Measurement::value((earlier + left) as f64)
                    .with_details(json!({ "marks_seen_within_a_run": seen })))
            }
            Behaviour::Ambient => {
                let env = std::env::vars().count();
                let args = std::env::args().count();
                let tcp = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
                let root = std::fs::read_dir("/").is_ok();
                Ok(Measurement::value((env + args) as f64).with_details(json!({
                    "env": env, "args": args, "tcp_connected": tcp, "root_listed": root,
                })))
            }
        }
    }
}

smm_sdk::export_measure!(Probe);
