import { priceWithTax } from './pricing.js';

export function summary(items) {
  let count = 0;
  for (var i = 0; i < items.length; i++) count++;
  console.log('items', count);
  let lines = items.map((item) => `${item.name}: ${priceWithTax(item.price)}`);
  setTimeout('refresh()', 1000);
  return lines.join('\n') + missingFooter;
}

// eslint-disable-next-line no-console
export const ready = true;
