// Starts Swagger UI (vendor/swagger-ui, loaded just before this file) on the service's own
// OpenAPI document. An external file because the page's CSP allows no inline script.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    // Never send the document to validator.swagger.io (the CSP would block it anyway).
    validatorUrl: null,
    // Configuration from the page's query string (?url=...) stays off.
    queryConfigEnabled: false,
  });
})();
