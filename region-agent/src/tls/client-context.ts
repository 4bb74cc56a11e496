/**
 * One TLS client context per trusted-CA set. Each `tls.connect({ ca })` otherwise parses the
 * CA PEM into a new SecureContext (most of a loopback handshake's CPU); the agent connects to
 * its instances many times with the same regional CA. The context only holds the trust
 * anchors: every connection still verifies the chain and the server name.
 */
import { createSecureContext, type SecureContext } from 'node:tls';

const MAX_CONTEXTS = 16;
const contexts = new Map<string, SecureContext>();

/** The context trusting `ca` (one PEM or several); undefined: the system trust store. */
export function clientContext(ca: string | string[] | undefined): SecureContext | undefined {
  if (ca === undefined) return undefined;
  const key = Array.isArray(ca) ? ca.join('\n') : ca;
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca });
    // A rotated CA replaces an old one: keep the few most recent.
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value!);
    contexts.set(key, context);
  }
  return context;
}
