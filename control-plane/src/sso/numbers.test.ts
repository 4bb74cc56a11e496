import { bytes, count, percent, uptime } from './numbers.js';

it('sizes in the units plans use', () => {
  expect(bytes(0)).toBe('0 B');
  expect(bytes(1023)).toBe('1023 B');
  expect(bytes(1536)).toBe('1.5 KB');
  expect(bytes(25 * 1024 * 1024)).toBe('25 MB');
  expect(bytes(1.25 * 1024 * 1024)).toBe('1.3 MB');
  expect(bytes(256 * 1024 * 1024)).toBe('256 MB');
  expect(bytes(2 * 1024 ** 3)).toBe('2 GB');
});

it('uptimes in their two largest units', () => {
  expect(uptime(0)).toBe('0 seconds');
  expect(uptime(1)).toBe('1 second');
  expect(uptime(42)).toBe('42 seconds');
  expect(uptime(300)).toBe('5 minutes');
  expect(uptime(3725)).toBe('1 hour, 2 minutes');
  expect(uptime(3 * 86_400 + 4 * 3_600 + 59)).toBe('3 days, 4 hours');
  expect(uptime(86_400 + 30)).toBe('1 day');
});

it('counts with separators, shares of a limit', () => {
  expect(count(1234567)).toBe('1,234,567');
  expect(count(3.6)).toBe('4');
  expect(percent(0, 100)).toBe('0%');
  expect(percent(1, 1000)).toBe('<1%');
  expect(percent(50, 200)).toBe('25%');
});
