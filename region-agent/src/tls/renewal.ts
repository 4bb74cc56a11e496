/** When a leaf is re-issued: 30 days before it expires (leaves are valid 90 days). */
export const RENEW_BEFORE_MS = 30 * 86_400_000;

export function isDueForRenewal(notAfter: string, now: number): boolean {
  return Date.parse(notAfter) - now < RENEW_BEFORE_MS;
}
