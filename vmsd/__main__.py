from vmsd.cli.entry import main

raise SystemExit(main())
