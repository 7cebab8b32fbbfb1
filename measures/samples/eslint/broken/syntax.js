// Does not parse: ESLint reports one fatal error and no rule runs here.
export function broken( {
  return 1;
}
