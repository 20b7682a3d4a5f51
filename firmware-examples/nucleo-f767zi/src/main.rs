//! rill firmware example for the NUCLEO-F767ZI: DHCP over the on-board Ethernet (LAN8742A PHY, RMII), then the
//! shared `app` server on port 80 in several listener tasks: the page, and the `/echo` and `/tokens` WebSockets on
//! rill-embassy.
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

/// Listener sockets plus the DHCP socket.
const SOCKETS: usize = app::net::LISTENERS + 1;

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
}
