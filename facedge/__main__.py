from facedge.cli import main

raise SystemExit(main())
