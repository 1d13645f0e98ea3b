// Which approval service the browser test talks to.
//
// With TWOFOLD_BIN (a built `twofold` binary; tests/phone_page.rs sets it): the real
// `twofold serve`, started on 127.0.0.1:0 with a private configuration in a temporary
// directory, and a host registered with `twofold serve --add-host`.
// Without it, or with TWOFOLD_SERVICE=fake: tests/web/fake-service.mjs (the contract in node).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startFakeService } from './fake-service.mjs';

export async function startService() {
  const bin = process.env.TWOFOLD_BIN;
  if (bin && process.env.TWOFOLD_SERVICE !== 'fake') return startRealService(bin);
  if (process.env.TWOFOLD_SERVICE === 'real') throw new Error('TWOFOLD_SERVICE=real needs TWOFOLD_BIN');
  const s = await startFakeService({ log: process.env.TWOFOLD_SERVICE_LOG === '1' });
  return { kind: 'fake', ...s };
}

const START_TIMEOUT_MS = 120000; // a cold start on a slow machine (database, VAPID key)

async function startRealService(bin) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twofold-page-serve-'));
  const config = path.join(dir, 'twofold.toml');
  writeFileSync(config, [
    `state_dir = "${dir}/state"`,
    '',
    '[serve]',
    'listen = "127.0.0.1:0"',
    `database = "${dir}/serve.db"`,
    `vapid_key_file = "${dir}/vapid.key"`,
    '',
  ].join('\n'), { mode: 0o600 });
  const cli = (...args) => execFileSync(bin, ['--config', config, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const added = cli('serve', '--add-host', 'build-01.example.org');
  const hostToken = added.split('\n').map((l) => l.trim()).find((l) => /^[A-Za-z0-9_-]{43}$/.test(l));
  if (!hostToken) throw new Error(`twofold serve --add-host printed no token:\n${added}`);

  const logFile = path.join(dir, 'serve.log');
  const logFd = openSync(logFile, 'w');
  const child = spawn(bin, ['--config', config, 'serve'], { stdio: ['ignore', 'pipe', logFd] });
  closeSync(logFd);
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`twofold serve did not start in time:\n${log()}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^twofold serve: listening on (http:\/\/\S+)$/.exec(line.trim());
      if (m) resolve(m[1]);
      else reject(new Error(`unexpected first line from twofold serve: ${JSON.stringify(line)}\n${log()}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`twofold serve exited (${code ?? signal}):\n${log()}`));
    });
  });
  child.stdout.resume(); // keep draining
  return {
    kind: `real (${bin})`,
    url,
    hostToken,
    log,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
