//! The tokio runtime every harness binary runs on, chosen by `--runtime multi|current` and `--workers N`.

use crate::args::Args;
use std::fmt;
use std::str::FromStr;

/// Tokio scheduler flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `new_multi_thread` with `workers` worker threads.
    Multi,
    /// `new_current_thread`: everything on the calling thread.
    Current,
}

impl FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "multi" => Ok(Self::Multi),
            "current" => Ok(Self::Current),
            other => Err(format!("expected `multi` or `current`, got `{other}`")),
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Multi => "multi",
            Self::Current => "current",
        })
    }
}

/// Runtime choice of one binary.
#[derive(Clone, Copy, Debug)]
pub struct RuntimeOpts {
    /// Scheduler flavour.
    pub flavor: Flavor,
    /// Worker threads (multi-thread flavour only).
    pub workers: usize,
}

impl RuntimeOpts {
    /// Reads `--runtime` and `--workers`, falling back to the given defaults.
    pub fn parse(args: &mut Args, flavor: Flavor, workers: usize) -> Self {
        Self {
            flavor: args.value("runtime", flavor),
            workers: args.value("workers", workers).max(1),
        }
    }

    /// Builds the runtime (I/O and timers enabled).
    pub fn build(self) -> tokio::runtime::Runtime {
        let mut builder = match self.flavor {
            Flavor::Multi => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(self.workers);
                b
            }
            Flavor::Current => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build().expect("build tokio runtime")
    }
}

impl fmt::Display for RuntimeOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.flavor {
            Flavor::Multi => write!(f, "multi-thread runtime, {} workers", self.workers),
            Flavor::Current => f.write_str("current-thread runtime"),
        }
    }
}
