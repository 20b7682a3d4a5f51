//! One logging call site for both worlds: defmt on the boards (formatting happens on the host), `log` on the host.
//! The format strings use only `{}` and `{:?}`, which both accept.

macro_rules! info {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($($t)*);
        #[cfg(feature = "log")]
        log::info!($($t)*);
        // Without a logger the arguments would be unused; format_args! type-checks them and costs nothing.
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = format_args!($($t)*);
    }};
}

macro_rules! warn {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::warn!($($t)*);
        #[cfg(feature = "log")]
        log::warn!($($t)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = format_args!($($t)*);
    }};
}
