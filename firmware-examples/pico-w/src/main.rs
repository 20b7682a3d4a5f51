//! rill firmware example for the Raspberry Pi Pico W: join a Wi-Fi network (CYW43439 over PIO SPI), take a DHCP
//! lease, then run the shared `app` server on port 80 in several listener tasks: the page, and the `/echo` and
//! `/tokens` WebSockets on rill-embassy.
//!
//! Wi-Fi credentials are compiled in from RILL_WIFI_SSID / RILL_WIFI_PASSWORD (an empty password joins an open
//! network); without them the placeholders below are used, so CI can build the firmware without secrets.
#![no_std]
#![no_main]

use cyw43::{Aligned, JoinOptions, A4};
use cyw43_pio::{PioSpi, DEFAULT_CLOCK_DIVIDER};
use defmt_rtt as _;
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_rp::bind_interrupts;
use embassy_rp::clocks::RoscRng;
use embassy_rp::dma::{self, Channel};
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{self, Pio};
use embassy_time::{Duration, Timer};
use panic_probe as _;
use static_cell::StaticCell;

const WIFI_SSID: &str = match option_env!("RILL_WIFI_SSID") {
    Some(s) => s,
    None => "rill-demo",
};
const WIFI_PASSWORD: &str = match option_env!("RILL_WIFI_PASSWORD") {
    Some(s) => s,
    None => "change-me-please",
};

#[cfg(not(cyw43_firmware_dir))]
mod blobs {
    use super::{Aligned, A4};
    pub static FIRMWARE: &Aligned<A4, [u8]> = &cyw43_setup::FW;
    pub static CLM: &[u8] = cyw43_setup::CLM;
    pub static NVRAM: &Aligned<A4, [u8]> = &cyw43_setup::NVRAM;
}

#[cfg(cyw43_firmware_dir)]
mod blobs {
    use super::{Aligned, A4};
    pub static FIRMWARE: &Aligned<A4, [u8]> = &Aligned(*include_bytes!(env!("RILL_CYW43_FW")));
    pub static CLM: &[u8] = include_bytes!(env!("RILL_CYW43_CLM"));
    pub static NVRAM: &Aligned<A4, [u8]> = &Aligned(*include_bytes!(env!("RILL_CYW43_NVRAM")));
}

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

/// Listener sockets plus the DHCP socket.
const SOCKETS: usize = app::net::LISTENERS + 1;

type Radio = cyw43::SpiBus<Output<'static>, PioSpi<'static, PIO0, 0>>;

#[embassy_executor::task]
async fn radio_task(runner: cyw43::Runner<'static, Radio>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::task(pool_size = app::net::LISTENERS)]
async fn listener(stack: Stack<'static>, id: usize) -> ! {
    app::net::listen(stack, id).await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    defmt::info!("rill pico-w starting");

    // Pico W wiring of the CYW43439: power on GPIO23, chip select GPIO25, data GPIO24, clock GPIO29.
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        Channel::new(p.DMA_CH0, Irqs),
    );

    static RADIO: StaticCell<cyw43::State> = StaticCell::new();
    let (device, mut control, runner) = cyw43::new(
        RADIO.init(cyw43::State::new()),
        pwr,
        spi,
        blobs::FIRMWARE,
        blobs::NVRAM,
    )
    .await;
    spawner.spawn(radio_task(runner).unwrap());
    control.init(blobs::CLM).await;
    // Full power: the demo favours latency of the live token stream over battery life.
    control
        .set_power_management(cyw43::PowerManagementMode::None)
        .await;

    let config = embassy_net::Config::dhcpv4(Default::default());
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let seed = RoscRng.next_u64();
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).unwrap());
    for id in 0..app::net::LISTENERS {
        spawner.spawn(listener(stack, id).unwrap());
    }

    let options = if WIFI_PASSWORD.is_empty() {
        JoinOptions::new_open()
    } else {
        JoinOptions::new(WIFI_PASSWORD.as_bytes())
    };
    // An access point that is briefly out of reach should not need a reset: keep retrying.
    while let Err(e) = control.join(WIFI_SSID, options.clone()).await {
        defmt::warn!("joining {=str} failed: {:?}, retrying", WIFI_SSID, e);
        Timer::after(Duration::from_secs(2)).await;
    }
    defmt::info!("joined {=str}", WIFI_SSID);
    app::net::dhcp_or_fallback(stack).await;
}
