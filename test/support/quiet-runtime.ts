import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in the tests log only errors; the expected activity failures of the
// failure-path tests would otherwise bury the test report. Installing twice in
// one process throws, which is harmless here.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed in this process
}
