// Lighthouse on several pages with one Chromium: bench/lighthouse.py drives it.
// stdin: {"urls": [...], "presets": ["mobile", "desktop"], "categories": [...],
//         "chrome": "/usr/bin/chromium", "flags": [...]}
// stdout: a JSON list, one entry per (preset, url): scores (0-100) and what fell short.
import { readFileSync } from 'node:fs';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import desktopConfig from 'lighthouse/core/config/desktop-config.js';

const spec = JSON.parse(readFileSync(0, 'utf8'));
const chrome = await chromeLauncher.launch({
  chromePath: spec.chrome, chromeFlags: spec.flags, logLevel: 'silent',
});
const results = [];
try {
  for (const preset of spec.presets) {
    for (const url of spec.urls) {
      const flags = { port: chrome.port, logLevel: 'error', output: 'json',
                      onlyCategories: spec.categories };
      const config = preset === 'desktop' ? desktopConfig : undefined;
      let { lhr } = await lighthouse(url, flags, config);
      // A busy machine now and then loses the trace's start (NO_NAVSTART): run it again.
      for (let retry = 0; lhr.runtimeError && retry < 2; retry++) {
        ({ lhr } = await lighthouse(url, flags, config));
      }
      const scores = {};
      const failing = [];
      for (const [id, category] of Object.entries(lhr.categories)) {
        scores[id] = category.score === null ? null : Math.round(category.score * 100);
        for (const ref of category.auditRefs) {
          const audit = lhr.audits[ref.id];
          if (ref.weight > 0 && audit.score !== null && audit.score < 1) {
            failing.push({ category: id, id: ref.id, score: audit.score,
                           title: audit.title, value: audit.displayValue || '' });
          }
        }
      }
      const notes = Object.entries(lhr.audits)  // e.g. uses-text-compression: weight 0
        .filter(([, a]) => a.score !== null && a.score < 1 && a.scoreDisplayMode === 'metricSavings')
        .map(([id, a]) => `${id}: ${a.displayValue || a.score}`);
      results.push({ url: lhr.finalDisplayedUrl, preset, scores, failing, notes,
                     error: lhr.runtimeError ? lhr.runtimeError.message : null,
                     warnings: lhr.runWarnings });
    }
  }
} finally {
  await chrome.kill();
}
process.stdout.write(JSON.stringify(results));
