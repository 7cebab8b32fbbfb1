//! Test plugin: a well-formed component of another world. Registering it must
//! fail with a clear error: it does not implement `smm:measure/measure`.

wit_bindgen::generate!({ path: "wit", world: "greeter" });

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
