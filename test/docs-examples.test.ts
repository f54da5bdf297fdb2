/**
 * Every example in README.md and docs/*.md runs as written and leaves no
 * kernel object behind (docs/building.md, "Examples in the docs").
 *
 * A fenced block labelled js/mjs/javascript (cjs: CommonJS) runs with node as it is; one
 * labelled ts/typescript/mts is type-checked and compiled by tsc (strict, as
 * a user's project would) and the output runs with node; one labelled c is
 * compiled with ring.h on the include path and runs. A block that is not
 * meant to run starts with a `// sketch: <why>` line: it is listed in the
 * output and counted, and the counts below are pinned, so that turning an
 * example into a sketch (or into a block of another language) is a visible
 * change of this file. docs/building.md, the contributor doc, is not run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from './helpers.js';

const root = path.join(__dirname, '..');

/** Examples and sketches per file (a file not listed has none): change these deliberately, with the docs. */
const EXPECTED: Record<string, { run: number; sketches: number }> = {
  'README.md': { run: 8, sketches: 0 },
  'docs/api.md': { run: 1, sketches: 0 },
  'docs/benchmarks.md': { run: 0, sketches: 1 },
  'docs/beyond-one-host.md': { run: 0, sketches: 2 }, // they need a nats-server: test/nats.test.ts runs the same code
  'docs/messaging.md': { run: 1, sketches: 4 },
  'docs/ring-buffer.md': { run: 2, sketches: 0 },
  'docs/ring-format.md': { run: 1, sketches: 0 },
  'docs/services.md': { run: 4, sketches: 0 },
  'docs/topics.md': { run: 4, sketches: 0 },
  'docs/sysv.md': { run: 2, sketches: 0 },
  'docs/typed-queue.md': { run: 2, sketches: 1 },
};

const JS = new Set(['js', 'mjs', 'javascript', 'cjs']);
const TS = new Set(['ts', 'typescript', 'mts']);
/** C programs: compiled with native/include (ring.h) on the include path, then run. */
const C = new Set(['c']);
/** The first line of a sketch: a comment saying `sketch:` and why. */
const SKETCH = /^\s*(?:\/\/|#|\/\*|--|<!--)\s*sketch:\s*\S/i;

interface Block {
  /** `docs/messaging.md:38`: where its fence opens. */
  where: string;
  file: string;
  lang: string;
  code: string;
}

function blocksOf(file: string): Block[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)/.exec(lines[i] as string);
    if (!open) continue;
    const indent = open[1] as string;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && (lines[i] as string).trimEnd() !== `${indent}\`\`\``; i++) {
      body.push((lines[i] as string).slice(indent.length));
    }
    blocks.push({
      where: `${file}:${start + 1}`,
      file,
      lang: (open[2] as string).toLowerCase(),
      code: body.join('\n'),
    });
  }
  return blocks;
}

const files = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md') && name !== 'building.md')
    .sort()
    .map((name) => `docs/${name}`),
];
const blocks = files.flatMap(blocksOf);
const isSketch = (block: Block) => SKETCH.test(block.code.split('\n').find((line) => line.trim() !== '') ?? '');
const code = blocks.filter((block) => JS.has(block.lang) || TS.has(block.lang) || C.has(block.lang));
const sketches = code.filter(isSketch);
const examples = code.filter((block) => !isSketch(block));

// ---------------------------------------------------------------- kernel objects

/** Objects of test files running beside this one, and of benchmarks: never an example's. */
const NOT_OURS = 'shmkit-';
const SYSV_TEST_KEY_TAG = 0x5e; // test/global-leaks.ts: sysvTestKey()

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The id column of each /proc/sysvipc table. */
const SYSV_TABLES = { msg: 'msqid', shm: 'shmid', sem: 'semid' } as const;

/**
 * System V queues, shared memory segments and semaphore sets of this uid, as
 * `sysv:<msqid>:<key>` (`sysv-shm:…`, `sysv-sem:…`), but not those of the tests running beside.
 */
function sysvQueues(table: keyof typeof SYSV_TABLES = 'msg'): string[] {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/sysvipc/${table}`, 'utf8');
  } catch {
    return [];
  }
  const [header = '', ...rows] = text.trim().split('\n');
  const column = header.trim().split(/\s+/);
  const [keyAt, idAt, uidAt] = ['key', SYSV_TABLES[table], 'uid'].map((name) => column.indexOf(name));
  return rows
    .map((row) => row.trim().split(/\s+/))
    .filter((fields) => Number(fields[uidAt as number]) === process.getuid?.())
    .map((fields) => ({ key: Number(fields[keyAt as number]), id: fields[idAt as number] }))
    .filter(({ key }) => key !== 0 && key >>> 24 !== SYSV_TEST_KEY_TAG) // IPC_PRIVATE ones: tests make them
    .map(({ key, id }) => `${table === 'msg' ? 'sysv' : `sysv-${table}`}:${id}:0x${(key >>> 0).toString(16)}`);
}

/** Everything an example could leave behind: /dev/shm, /dev/mqueue, SysV queues, FIFOs in the temp dir. */
function kernelObjects(): Set<string> {
  const objects = new Set<string>();
  for (const name of listDir('/dev/shm')) if (!name.includes(NOT_OURS)) objects.add(`/dev/shm/${name}`);
  for (const name of listDir('/dev/mqueue')) if (!name.includes(NOT_OURS)) objects.add(`/dev/mqueue/${name}`);
  for (const table of ['msg', 'shm', 'sem'] as const) for (const object of sysvQueues(table)) objects.add(object);
  const tmp = os.tmpdir();
  for (const name of listDir(tmp)) {
    const file = path.join(tmp, name);
    if (!name.includes(NOT_OURS) && fs.lstatSync(file, { throwIfNoEntry: false })?.isFIFO()) objects.add(file);
  }
  return objects;
}

/** Removes what an example left, so that one leak fails one example only. */
function remove(object: string): void {
  if (object.startsWith('sysv')) {
    const [kind = '', id = ''] = object.split(':');
    const flag = { sysv: '-q', 'sysv-shm': '-m', 'sysv-sem': '-s' }[kind] ?? '-q';
    execFileSync('ipcrm', [flag, id], { stdio: 'ignore' });
  } else {
    fs.rmSync(object, { force: true });
  }
}

// ---------------------------------------------------------------- running

// Inside the package root, so that `import 'shmkit'` resolves to this package (its dist/).
const dir = path.join(root, `.docs-examples-${process.pid}`);
/** What runs each example: the .mjs node runs, or the C program's binary. */
const scripts = new Map<Block, string>();
/** tsc's diagnostics per TypeScript example (empty: it compiled). */
const diagnostics = new Map<Block, string[]>();

/** The project's own tsc (typescript's `bin`, which its `exports` do not list). */
const TSC = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');

function compileTypeScript(): void {
  const sources = examples.filter((block) => TS.has(block.lang));
  if (sources.length === 0) return;
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      lib: ['ES2023', 'ESNext.Disposable'],
      types: ['node'],
      strict: true,
      skipLibCheck: true,
      rootDir: '.',
      outDir: '.',
    },
    // Listed, not included: an included file inside outDir would be excluded.
    files: sources.map((block) => path.basename(scripts.get(block) as string).replace(/\.mjs$/, '.mts')),
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
  const run = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const output = `${run.stdout}${run.stderr}`.split('\n');
  for (const block of sources) {
    const source = path.basename(scripts.get(block) as string).replace(/\.mjs$/, '.mts');
    diagnostics.set(
      block,
      output.filter((line) => line.includes(source)).map((line) => inDocs(block, line)),
    );
  }
  if (run.status !== 0 && [...diagnostics.values()].every((lines) => lines.length === 0)) {
    throw new Error(`tsc failed on the docs' TypeScript examples:\n${output.join('\n')}`);
  }
}

/** `example-3.mts(5,10): error …` or `example-3.c:5:10: error …` → `docs/x.md:19:10: error …`. */
function inDocs(block: Block, line: string): string {
  const fence = Number(block.where.split(':')[1]);
  return line.replace(
    /^.*?example-\d+\.\w+(?:\((\d+),(\d+)\)|:(\d+):(\d+)):/,
    (_match, row = '', column = '', cRow = '', cColumn = '') =>
      `${block.file}:${fence + Number(row || cRow)}:${column || cColumn}:`,
  );
}

let compiler: boolean | undefined;
function hasCompiler(): boolean {
  compiler ??= spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;
  return compiler;
}

/** Compiles a C example as a user would (ring.h on the include path, warnings as errors); its diagnostics. */
function compileC(block: Block): string[] {
  const binary = scripts.get(block) as string;
  const cc = spawnSync(
    'cc',
    [
      '-std=gnu11',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-I',
      path.join(root, 'native', 'include'),
      '-o',
      binary,
      `${binary}.c`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (cc.status === 0) return [];
  const lines = `${cc.stdout}${cc.stderr}`.split('\n').filter((line) => line.trim() !== '');
  return lines.map((line) => inDocs(block, line));
}

beforeAll(() => {
  fs.mkdirSync(dir);
  examples.forEach((block, i) => {
    const base = path.join(dir, `example-${i}`);
    // ES modules, but `cjs` blocks (require()) are CommonJS.
    const output = block.lang === 'cjs' ? 'cjs' : 'mjs';
    const extension = TS.has(block.lang) ? 'mts' : C.has(block.lang) ? 'c' : output;
    fs.writeFileSync(`${base}.${extension}`, `${block.code}\n`);
    scripts.set(block, C.has(block.lang) ? base : `${base}.${output}`);
  });
  compileTypeScript();
}, 150_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('docs examples', () => {
  it('every file has the examples and sketches it is known to have', () => {
    const counts = Object.fromEntries(
      files.map((file) => [
        file,
        {
          run: examples.filter((block) => block.file === file).length,
          sketches: sketches.filter((block) => block.file === file).length,
        },
      ]),
    );
    // A file not in the table has no example and no sketch (only shell commands, output…).
    const none = Object.fromEntries(files.map((file) => [file, { run: 0, sketches: 0 }]));
    expect(counts).toEqual({ ...none, ...EXPECTED });
  });

  it('no block of another language holds code that imports shmkit (label it js or ts)', () => {
    const hidden = blocks
      .filter((block) => !code.includes(block) && /from ['"]shmkit['"]|require\(['"]shmkit['"]\)/.test(block.code))
      .map((block) => `${block.where} (${block.lang || 'unlabelled'})`);
    expect(hidden).toEqual([]);
  });

  it('js examples hold only syntax Node 20 runs: no `using` (a ts example may use it)', () => {
    // The examples run on the Node of the suite; this keeps a newer Node from hiding it.
    const using = examples
      .filter((block) => JS.has(block.lang) && /^\s*(?:await\s+)?using\s+[\w$]+\s*=/m.test(block.code))
      .map((block) => block.where);
    expect(using).toEqual([]);
  });

  it("README's examples name everything /quickstart-…", () => {
    const readme = examples.filter((block) => block.file === 'README.md');
    expect(readme.length).toBeGreaterThanOrEqual(3);
    for (const block of readme) expect(block.code, block.where).toContain("'/quickstart-");
  });

  it.each(sketches.map((block) => [block.where, block.code.split('\n')[0]] as const))(
    'sketch %s is not run: %s',
    (_where, first) => {
      expect(first).toMatch(SKETCH);
    },
  );

  it.for(examples.map((block) => [block.where, block.lang, block] as const))(
    '%s (%s) runs and removes what it creates',
    ([, , block], ctx) => {
      if (C.has(block.lang)) {
        requireOrSkip(ctx, hasCompiler(), 'a C compiler (cc)');
        diagnostics.set(block, compileC(block));
      }
      const errors = diagnostics.get(block) ?? [];
      expect(errors, `the compiler on ${block.where}`).toEqual([]);
      const script = scripts.get(block) as string;
      const before = kernelObjects();
      const run = spawnSync(C.has(block.lang) ? script : process.execPath, C.has(block.lang) ? [] : [script], {
        cwd: root,
        encoding: 'utf8',
        timeout: 30_000,
      });
      const left = [...kernelObjects()].filter((object) => !before.has(object));
      for (const object of left) remove(object);
      expect(run.error, `${block.where}: ${run.error?.message}`).toBeUndefined();
      expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
      expect(run.stdout.length, `${block.where} prints what it did`).toBeGreaterThan(0);
      expect(left, `${block.where} left these behind`).toEqual([]);
    },
  );
});

describe('docs links', () => {
  it('every relative link of the shipped Markdown names a file the package ships (the registry page too)', () => {
    // What `npm pack` puts in the tarball, from package.json "files" (no lifecycle script runs).
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as [{ files: { path: string }[] }];
    const shipped = new Set(pack.files.map((file) => file.path));
    const broken: string[] = [];
    for (const file of [...shipped].filter((name) => name.endsWith('.md'))) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(?:[a-z]+:|#)/i.test(target)) continue; // absolute (https:, mailto:) or an anchor of this page
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), target.replace(/#.*$/, '')));
        if (!shipped.has(resolved)) broken.push(`${file}: ${target}`);
      }
    }
    expect(shipped.has('README.md')).toBe(true);
    expect(broken, 'link these absolutely (https://github.com/shmkit/shmkit/blob/main/…) or ship them').toEqual([]);
  });
});
