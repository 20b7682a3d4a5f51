//! rill firmware example for the NUCLEO-F767ZI: DHCP over the on-board Ethernet (LAN8742A PHY, RMII), then the
//! shared `app` server on port 80 in several listener tasks: the page, and the `/echo` and `/tokens` WebSockets on
//! rill-embassy.
//!
//! With feature `tls`, once the stack has an address the board also runs the shared client once over TLS 1.3
//! (`app::tls::exchange_tls`) against the `wss://` URL given at build time in `RILL_TLS_URL`, trusting only the
//! CA certificate (DER) whose path is in `RILL_TLS_CA_DER`, and logs the result. Its entropy (key share, masking
//! keys) comes from the F767's hardware RNG.
#![no_std]
#![no_main]

use defmt_rtt as _;
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, peripherals};
use panic_probe as _;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    // On the F767 the RNG has its own vector (the F777's example binds HASH_RNG).
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// Listener sockets plus the DHCP socket (plus the TLS client's).
const SOCKETS: usize = app::net::LISTENERS + 1 + cfg!(feature = "tls") as usize;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

#[embassy_executor::task(pool_size = app::net::LISTENERS)]
async fn listener(stack: Stack<'static>, id: usize) -> ! {
    app::net::listen(stack, id).await
}

/// 216 MHz from the ST-LINK's 8 MHz MCO (HSE bypass); Ethernet needs HCLK of at least 25 MHz.
fn clocks() -> embassy_stm32::Config {
    use embassy_stm32::rcc::*;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL216,
        divp: Some(PllPDiv::DIV2),
        divq: None,
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    defmt::info!("rill nucleo-f767zi starting");

    let mut rng = Rng::new(p.RNG, Irqs);
    let mut seed = [0u8; 8];
    rng.fill_bytes(&mut seed);

    // Locally administered MAC from the chip's unique ID, so several boards on one LAN do not collide.
    let uid = embassy_stm32::uid::uid();
    let mac = [
        0x02,
        0x52,
        uid[0] ^ uid[4] ^ uid[8],
        uid[1] ^ uid[5] ^ uid[9],
        uid[2] ^ uid[6] ^ uid[10],
        uid[3] ^ uid[7] ^ uid[11],
    ];

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // NUCLEO-144 RMII wiring: REF_CLK PA1, CRS_DV PA7, RXD0 PC4, RXD1 PC5, TXD0 PG13, TXD1 PB13, TX_EN PG11;
    // MDIO PA2, MDC PC1.
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac,
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );

    let config = embassy_net::Config::dhcpv4(Default::default());
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        u64::from_le_bytes(seed),
    );
    spawner.spawn(net_task(runner).unwrap());
    for id in 0..app::net::LISTENERS {
        spawner.spawn(listener(stack, id).unwrap());
    }
    app::net::dhcp_or_fallback(stack).await;
    #[cfg(feature = "tls")]
    tls_client(stack, rng).await;
}

/// Runs the client once over TLS against the build's `RILL_TLS_URL`, trusting the CA in `RILL_TLS_CA_DER`.
#[cfg(feature = "tls")]
async fn tls_client(stack: Stack<'static>, rng: Rng<'static, peripherals::RNG>) {
    use app::tls::{NoClock, Records, READ_RECORD, WRITE_RECORD};
    use static_cell::ConstStaticCell;

    const URL: &str = env!(
        "RILL_TLS_URL",
        "feature tls: set RILL_TLS_URL=wss://IPV4:PORT/PATH at build time"
    );
    static CA_DER: &[u8] = include_bytes!(env!(
        "RILL_TLS_CA_DER",
        "feature tls: set RILL_TLS_CA_DER to the absolute path of the server's CA certificate (DER)"
    ));
    // The record buffers embedded-tls borrows, zero-initialised statics (.bss), taken once.
    static READ: ConstStaticCell<[u8; READ_RECORD]> = ConstStaticCell::new([0; READ_RECORD]);
    static WRITE: ConstStaticCell<[u8; WRITE_RECORD]> = ConstStaticCell::new([0; WRITE_RECORD]);

    let Some(url) = app::client::parse_url(URL).filter(|u| u.tls) else {
        defmt::error!(
            "RILL_TLS_URL is not a wss:// URL with an IPv4 host: {}",
            URL
        );
        return;
    };
    let records = Records {
        read: READ.take(),
        write: WRITE.take(),
    };
    // No trusted time on the board: certificate validity dates are not checked (NoClock).
    match app::tls::exchange_tls::<NoClock>(stack, &url, CA_DER, rng, records).await {
        Ok(summary) => defmt::info!(
            "TLS client: {} bytes echoed, ping rtt {} us",
            summary.echoed,
            summary.ping_rtt.as_micros()
        ),
        Err(e) => defmt::error!("TLS client failed: {:?}", e),
    }
}
