// Which grant a path is in: `node --test test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locate, normalize } from '../paths.js';

test('paths are normalized lexically', () => {
  assert.equal(normalize('/srv//reports/./a/../b.json'), '/srv/reports/b.json');
  assert.equal(normalize('/../etc/passwd'), '/etc/passwd');
  assert.equal(normalize('a/../../b'), '../b');
  assert.equal(normalize('.'), '.');
});

test('the innermost grant holding a path wins; outside every grant is null', () => {
  const grants = [
    ['outer', '/srv'],
    ['inner', '/srv/reports'],
    ['other', '/data/reports'],
  ];
  assert.deepEqual(locate('/srv/reports/x/r.json', grants), { handle: 'inner', relative: 'x/r.json' });
  assert.deepEqual(locate('/srv/other.json', grants), { handle: 'outer', relative: 'other.json' });
  assert.deepEqual(locate('/srv/reports', grants), { handle: 'inner', relative: '.' });
  assert.equal(locate('/srv-other/r.json', grants), null, 'a prefix is not a parent');
  assert.equal(locate('/etc/passwd', grants), null);
  assert.equal(locate('/srv/reports/../../etc/passwd', grants), null, '.. does not escape');
  assert.equal(locate('/etc/passwd', []), null);
});

test('a relative path is taken from the first grant', () => {
  const grants = [
    ['first', '/data/reports'],
    ['second', '/srv'],
  ];
  assert.deepEqual(locate('eslint.json', grants), { handle: 'first', relative: 'eslint.json' });
  assert.deepEqual(locate('../../srv/x', grants), { handle: 'second', relative: 'x' });
  assert.deepEqual(locate('x', [['root', '/']]), { handle: 'root', relative: 'x' });
});
