//! Host bindings of the `measure` world (`sdk/wit/measure.wit`).

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "measure",
});

pub use smm::measure::types::{Error as PluginError, MeasureKind, Scale};
