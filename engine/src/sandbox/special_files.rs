//! Granted directories hold regular files and directories for a plugin to
//! read; anything else is refused at open.
//!
//! Opening a FIFO blocks until a writer appears, and a character device
//! (or a socket) may block or never end: the host would wait in a thread
//! the deadline cannot stop. So `open-at` first looks at what the path
//! names (a `stat`, which never blocks on such files) and refuses anything
//! but regular files, directories and symbolic links (FIFOs, sockets,
//! devices; WASI calls a FIFO `unknown`) with `access`, before
//! wasmtime-wasi's own open.
//!
//! Invariant: this is the only change to WASI's behaviour; everything else
//! is wasmtime-wasi's implementation, as linked by `add_to_linker_async`.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, Host as _, HostDescriptor, OpenFlags,
    PathFlags,
};

use super::host::Host;

/// The interface `open-at` lives in (the version wasmtime-wasi 48 links).
const INTERFACE: &str = "wasi:filesystem/types@0.2.12";

/// Shadow `[method]descriptor.open-at` with the checked version.
pub(crate) fn link(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(INTERFACE)?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut caller,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let mut fs = caller.data_mut().filesystem();
                let peek = Resource::<Descriptor>::new_borrow(fd.rep());
                // Only what cannot block: regular files, directories, and
                // symbolic links (opened without following). WASI reports a
                // FIFO as `unknown`: anything not known to be safe is refused.
                if let Ok(stat) = fs.stat_at(peek, path_flags, path.clone()).await
                    && !matches!(
                        stat.type_,
                        DescriptorType::RegularFile
                            | DescriptorType::Directory
                            | DescriptorType::SymbolicLink
                    )
                {
                    return Ok((Err(ErrorCode::Access),));
                }
                let opened = match fs.open_at(fd, path_flags, path, oflags, flags).await {
                    Ok(d) => Ok(d),
                    Err(e) => Err(fs.convert_error_code(e)?),
                };
                Ok((opened,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
