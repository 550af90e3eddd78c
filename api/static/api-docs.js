// /docs: Swagger UI (swagger-ui-bundle.js, vendored in api/static, see swagger-ui.NOTICE) on this server's
// OpenAPI document, whose address the page gives in data-openapi-url. The same options FastAPI's own /docs
// uses, without the online validator (it would call validator.swagger.io). No inline script: the CSP.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
