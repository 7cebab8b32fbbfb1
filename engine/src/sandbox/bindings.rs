//! Host bindings of the `measure` world (`sdk/wit/measure.wit`).

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "measure",
    // Async so that a collection can be abandoned at its deadline even while
    // the plugin waits in a host call (a sleep, a blocking open).
    exports: { default: async },
});

pub use smm::measure::types::{Error as PluginError, MeasureKind, Scale};
