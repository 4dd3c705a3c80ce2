// The azure family: azuresb:// on @azure/service-bus (loaded only when the scheme is used).
import './serviceBus';
