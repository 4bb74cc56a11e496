import { dashboardPage } from './dashboard-view.js';
import { esc, forbiddenPage, maskUrl } from './view.js';

describe('dashboard view', () => {
  it('escapes markup and quotes', () => {
    expect(esc(`<a href="x" onclick='y'>&\``)).toBe(
      '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;',
    );
  });

  it('masks the password of a URL only', () => {
    expect(maskUrl('rediss://default:s3cr:et@host.example:6380')).toBe(
      'rediss://default:••••••••@host.example:6380',
    );
    expect(maskUrl('rediss://host.example:6380')).toBe('rediss://host.example:6380');
  });

  it('renders every field escaped, with the secret only inside <details>', () => {
    const html = dashboardPage({
      uuid: 'u-1',
      name: '<script>x</script>',
      plan: 'standard',
      herokuRegion: 'us',
      agentRegion: 'us-east',
      state: 'provisioned',
      email: 'a@example.com',
      host: 'h.example',
      port: 6380,
      certificateNotAfter: '2027-01-01T00:00:00.000Z',
      url: 'rediss://default:topsecret@h.example:6380',
      csrfToken: 'tok"en',
      operations: [
        {
          kind: 'provision',
          state: 'succeeded',
          at: new Date('2026-01-01T00:00:00Z'),
        },
      ],
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;');
    expect(html).toContain('value="tok&#34;en"');
    expect(html.indexOf('topsecret')).toBeGreaterThan(html.indexOf('<details>'));
    expect(html.match(/topsecret/g)).toHaveLength(1);
    expect(html).toContain('1 Jan 2027, 00:00 UTC');
    expect(html).toContain('1 Jan 2026, 00:00 UTC');
  });

  it('uses one refusal page that names no reason but a malformed form', () => {
    for (const reason of [
      undefined,
      'bad_user_scoped_token',
      'bad_resource_token',
      'timestamp_too_old',
      'timestamp_in_future',
      'replayed',
      'unknown_resource',
    ])
      expect(forbiddenPage({ reason })).not.toMatch(/token|timestamp|replay|unknown/i);
    expect(forbiddenPage({ reason: 'missing_email' })).toContain('no <code>email</code> field');
    expect(forbiddenPage({ reason: 'missing_token' })).toContain('<code>resource_token</code>');
  });

  it('shows the request id, escaped', () => {
    expect(forbiddenPage({ requestId: 'r-1<x>' })).toContain(
      'Request id <code>r-1&#60;x&#62;</code>',
    );
  });
});
