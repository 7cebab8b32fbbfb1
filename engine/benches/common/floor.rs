//! The floor the benchmarks compare with: bare wasmtime running a measure
//! component (fresh store and empty WASI context per call, no limits, no
//! validation, no storage). Included by `#[path]` from each bench.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({ path: "../sdk/wit", world: "measure" });

pub struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A component linked once, called many times.
pub struct Floor {
    engine: Engine,
    pre: MeasurePre<Bare>,
}

impl Floor {
    pub fn new(engine: Engine, wasm: &[u8]) -> Floor {
        let component = Component::new(&engine, wasm).unwrap();
        let mut linker = Linker::<Bare>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let pre = MeasurePre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Floor { engine, pre }
    }

    /// Instantiate in a fresh store and collect with `config`: the value.
    pub fn collect(&self, config: &str) -> Option<f64> {
        let mut store = Store::new(
            &self.engine,
            Bare {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
            },
        );
        let m = self.pre.instantiate(&mut store).unwrap();
        m.call_collect(&mut store, config).unwrap().unwrap().value
    }
}
