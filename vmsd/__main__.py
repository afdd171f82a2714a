from vmsd.cli import main

raise SystemExit(main())
