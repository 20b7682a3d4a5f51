//! Minimal `--name value` / `--switch` command-line parsing shared by every harness binary.

use std::fmt::Display;
use std::str::FromStr;

/// Parsed command line: a list of `--name [value]` items, consumed one by one by the binary.
pub struct Args {
    items: Vec<(String, Option<String>)>,
    usage: &'static str,
}

impl Args {
    /// Parses `std::env::args()`; prints `usage` and exits on `--help` or on a malformed command line.
    pub fn from_env(usage: &'static str) -> Self {
        Self::parse(std::env::args().skip(1), usage)
    }

    fn parse(raw: impl IntoIterator<Item = String>, usage: &'static str) -> Self {
        let mut items: Vec<(String, Option<String>)> = Vec::new();
        for token in raw {
            if let Some(name) = token.strip_prefix("--") {
                if name == "help" {
                    println!("{usage}");
                    std::process::exit(0);
                }
                items.push((name.to_owned(), None));
            } else {
                match items.last_mut() {
                    Some((_, value @ None)) => *value = Some(token),
                    _ => die(usage, &format!("unexpected argument `{token}`")),
                }
            }
        }
        Self { items, usage }
    }

    fn take(&mut self, name: &str) -> Option<Option<String>> {
        let index = self.items.iter().position(|(n, _)| n == name)?;
        Some(self.items.remove(index).1)
    }

    /// Value of `--name VALUE`, or `default` when the flag is absent.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.optional(name).unwrap_or(default)
    }

    /// Value of a flag that has no sensible default; exits if it is absent.
    pub fn required<T: FromStr>(&mut self, name: &str) -> T
    where
        T::Err: Display,
    {
        self.optional(name)
            .unwrap_or_else(|| die(self.usage, &format!("--{name} is required")))
    }

    /// Value of `--name VALUE`, or `None` when the flag is absent.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        match self.take(name)? {
            None => die(self.usage, &format!("--{name} needs a value")),
            Some(raw) => Some(
                raw.parse()
                    .unwrap_or_else(|e| die(self.usage, &format!("--{name} {raw}: {e}"))),
            ),
        }
    }

    /// `true` if `--name` is given without a value (or as `--name true`).
    pub fn switch(&mut self, name: &str) -> bool {
        match self.take(name) {
            None => false,
            Some(None) => true,
            Some(Some(raw)) => raw
                .parse()
                .unwrap_or_else(|e| die(self.usage, &format!("--{name} {raw}: {e}"))),
        }
    }

    /// Exits with an error if any flag was not consumed (a typo must not silently fall back to a default).
    pub fn finish(self) {
        if let Some((name, _)) = self.items.first() {
            die(self.usage, &format!("unknown flag --{name}"));
        }
    }
}

fn die(usage: &str, message: &str) -> ! {
    eprintln!("error: {message}\n\n{usage}");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &[&str]) -> Args {
        Args::parse(raw.iter().map(|s| s.to_string()), "usage")
    }

    #[test]
    fn values_switches_and_defaults() {
        let mut a = args(&["--conns", "64", "--tokens", "--nodelay", "false"]);
        assert_eq!(a.value("conns", 1u32), 64);
        assert!(a.switch("tokens"));
        assert!(!a.value("nodelay", true));
        assert_eq!(a.value("secs", 5.0f64), 5.0);
        assert!(!a.switch("header"));
        a.finish();
    }
}
