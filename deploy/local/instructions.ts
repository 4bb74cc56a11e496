/** What `npm start` prints once the stack is up: the first things a newcomer does with it. */
export interface Stack {
  auth: { id: string; password: string };
  controlPlaneUrl: string;
  /** The Heroku simulator's front door; undefined when HEROKU_API_URL points elsewhere. */
  frontUrl?: string;
}

function viaFront(front: string): string {
  return `Provision as Heroku would, through the simulator's front door (it sends the provision call
with an OAuth grant, then receives the config PATCH and the provision action):
  UUID=$(curl -s -X POST ${front}/provision -d '{"plan":"standard","region":"us"}' | jq -r .uuid)
  curl -s ${front}/addons/$UUID        # what Heroku holds: state, config, dashboard link

Connect with verified TLS:
  curl -s ${front}/addons/$UUID > addon.json
  jq -r .config.TLSREDIS_TLS_CA addon.json > ca.pem
  redis-cli -u "$(jq -r .config.TLSREDIS_URL addon.json)" --tls --cacert ca.pem PING

Open its dashboard as a Heroku user (prints a link for the browser):
  npm run heroku-sim -- sso $UUID

More: npm run operator -- show $UUID | npm run operator -- rotate-credentials $UUID
      npm run operator -- regions | drift | reconcile --dry-run   (drift shows within 30 s)
      curl -s -X POST ${front}/change-plan -d '{"uuid":"'$UUID'","plan":"premium"}'
      curl -s -X POST ${front}/deprovision -d '{"uuid":"'$UUID'"}'
`;
}

function direct({ auth, controlPlaneUrl }: Stack): string {
  return `Provision by calling the control plane directly, as Heroku would (no oauth_grant, so the
control plane never calls Heroku back for this one):
  curl -s -u ${auth.id}:${auth.password} -H 'Content-Type: application/json' \\
    -X POST ${controlPlaneUrl}/heroku/resources \\
    -d '{"uuid":"'$(cat /proc/sys/kernel/random/uuid)'","name":"my-redis","plan":"standard","region":"amazon-web-services::us-east-1"}'
The answer's config holds TLSREDIS_URL (rediss://…) and TLSREDIS_TLS_CA.
`;
}

export function howToProvision(stack: Stack): string {
  return `
${stack.frontUrl ? viaFront(stack.frontUrl) : direct(stack)}
Ctrl-C stops the stack but leaves the instances running (the agent re-adopts them next time);
\`npm run stop\` stops everything, \`npm run reset\` also deletes .local/.
`;
}
