/**
 * The first start of `flowradar serve` creates an admin token. It is printed only to a terminal:
 * a service's output ends up in journald or container logs, so there it says where the file is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminTokenNotice } from '../src/service.js';
import { freePort } from './helpers/net.js';
import { startFlowradar } from './helpers/process.js';
import { ROOT } from './helpers/worker.js';

const TOKEN = 'frt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';

describe('the first admin token', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowradar-first-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is shown on a terminal and only named elsewhere', () => {
    const onTty = adminTokenNotice(TOKEN, '/data/admin.token', true);
    expect(onTty).toContain(TOKEN);
    expect(onTty).toContain('/data/admin.token');
    const piped = adminTokenNotice(TOKEN, '/data/admin.token', false);
    expect(piped).not.toContain(TOKEN);
    expect(piped).toContain('/data/admin.token');
  });

  it('stays out of the output of a serve whose stdout is a pipe', async () => {
    const dir = freshDir();
    const fr = await startFlowradar(
      ['serve', '--data-dir', dir],
      { FLOWRADAR_DEMO: '0' },
      { timeoutMs: 90_000 },
    );
    try {
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      expect(token).toMatch(/^frt_/);
      expect(fr.output()).toContain(`Admin token saved to ${join(dir, 'admin.token')}`);
      expect(fr.output()).not.toContain(token);
    } finally {
      expect(await fr.stop()).toBe(0);
    }
  }, 120_000);

  it('is printed by a serve on a terminal (a pseudo-terminal from script(1))', async () => {
    const dir = freshDir();
    const cmd = [
      process.execPath,
      '--import tsx src/cli.ts serve',
      `--data-dir ${dir} --host 127.0.0.1 --port ${await freePort()}`,
      `--netflow-port ${await freePort()} --sflow-port ${await freePort()} --log-level silent`,
    ].join(' ');
    // script runs the command on a pty of its own; its group is ours to stop.
    const child: ChildProcess = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FLOWRADAR_DEMO: '0' },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
    try {
      const deadline = Date.now() + 90_000;
      while (!out.includes('flowradar API on') && child.exitCode === null && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(out).toContain('flowradar API on');
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      expect(out).toContain(token);
      expect(out).toContain('shown once');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  }, 120_000);
});
