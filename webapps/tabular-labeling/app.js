// The tabular labeling UI is made of ES modules in resource/labeling-ui/, loaded by
// body.html (<script type="module">) so that DSS and the standalone server show the same
// page. Nothing to do here: this file only exists because DSS webapps have a JS file.
