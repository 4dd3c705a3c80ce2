// The local family: mem:// (in-process topics), stdin:// and stdout:// (lines), file:// (JSON lines). No client library.
import './mem';
import './stdio';
import './file';
