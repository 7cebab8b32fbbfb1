// A small pricing module with real lint problems (the sample of the
// eslint-findings measure): see ../generate.sh.

var DEFAULT_RATE = 0.2;

export function priceWithTax(amount, rate) {
  let total = amount;
  if (rate == null) rate = DEFAULT_RATE;
  if (!!rate) total = amount * (1 + rate);
  return total;
}

export function applyDiscount(price, code) {
  const unused = 'SPRING';
  if (code == 'HALF') return price / 2;
  if (code == 'TENTH') return price * 0.9;
  return price;
}

export function formula(expression) {
  // Evaluating user input: the reason no-eval is an error here.
  return eval(expression);
}

export function trusted(expression) {
  // eslint-disable-next-line no-eval -- reviewed: constant input only
  return eval(expression);
}
