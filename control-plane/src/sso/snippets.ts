/**
 * Ready-to-paste connection snippets, all verifying the server against the add-on's CA. They
 * read the config vars Heroku sets on the app, so no secret is put in the page.
 */
import { esc } from './view.js';

export function snippets(prefix: string): Array<{ title: string; code: string }> {
  const url = `${prefix}_URL`;
  const ca = `${prefix}_TLS_CA`;
  return [
    {
      title: 'redis-cli',
      code: `heroku config:get ${ca} -a <your-app> > ca.pem
redis-cli -u "$(heroku config:get ${url} -a <your-app>)" --tls --cacert ca.pem PING`,
    },
    {
      title: 'Node.js (ioredis)',
      code: `import { Redis } from 'ioredis';
const redis = new Redis(process.env.${url}, { tls: { ca: process.env.${ca} } });`,
    },
    {
      title: 'Node.js (node-redis)',
      code: `import { createClient } from 'redis';
const redis = createClient({ url: process.env.${url}, socket: { tls: true, ca: process.env.${ca} } });
await redis.connect();`,
    },
    {
      title: 'Python (redis-py)',
      code: `import os, redis
r = redis.from_url(os.environ["${url}"], ssl_ca_data=os.environ["${ca}"], ssl_cert_reqs="required")`,
    },
    {
      title: 'Ruby (redis-rb)',
      code: `require "redis"
store = OpenSSL::X509::Store.new
store.add_cert(OpenSSL::X509::Certificate.new(ENV["${ca}"]))
redis = Redis.new(url: ENV["${url}"], ssl_params: { cert_store: store, verify_mode: OpenSSL::SSL::VERIFY_PEER })`,
    },
  ];
}

export function snippetsHtml(prefix: string): string {
  return snippets(prefix)
    .map(
      (s, i) =>
        `<details class="snippet"><summary>${esc(s.title)}</summary><pre><code id="snippet-${i}">${esc(s.code)}</code></pre><button type="button" class="copy" data-copy="snippet-${i}">Copy</button></details>`,
    )
    .join('');
}
