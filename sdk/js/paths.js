// Which granted directory (WASI preopen) a path is in. Pure: unit-tested
// under Node; used by fs.js inside the component.

/** `path` with `.`, `..` and repeated slashes resolved (lexically). */
export function normalize(path) {
  const absolute = path.startsWith('/');
  const parts = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!absolute) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined || '.';
}

/**
 * The preopen holding `path` and the path relative to it, or `null`.
 * `preopens` is a list of `[handle, name]`, each name the absolute host
 * path of a granted directory. A relative `path` is taken from the first
 * grant (as the engine does with a relative path in a configuration); the
 * innermost grant holding the path wins.
 */
export function locate(path, preopens) {
  if (preopens.length === 0) return null;
  const full = normalize(path.startsWith('/') ? path : `${preopens[0][1]}/${path}`);
  let best = null;
  for (const [handle, name] of preopens) {
    const dir = normalize(name);
    let rest;
    if (full === dir) rest = '.';
    else if (dir === '/') rest = full.slice(1);
    else if (full.startsWith(`${dir}/`)) rest = full.slice(dir.length + 1);
    else continue;
    if (best === null || dir.length > best.dir.length) best = { handle, dir, rest };
  }
  return best && { handle: best.handle, relative: best.rest };
}
