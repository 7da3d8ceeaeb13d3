// Debian's chromium, launched the same way by every browser scenario:
// headless, no sandbox (tests run as root), nothing reaching the network.
'use strict';

const { chromium } = require('playwright-core');

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

exports.launch = () => chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
