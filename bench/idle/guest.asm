; bench/idle guest: real mode, CS = DS = SS = 0 (the client, idle.c, fills
; the IVT from the table below). Idles in HLT with a periodic tick until
; COUNT ticks have been taken: the LAPIC timer (moved to 0xa0000, reached
; through ES; periodic, divide by 1, PERIOD bus cycles of 1 ns, vector 0x60)
; or the PIT (mode 2, PIT_COUNT) through the master 8259 (vector 0x20) and
; LINT0 in ExtINT mode, as after RESET. Ports: 0xf0 start, 0xf1 end.
bits 16
org 0x1000

%define COUNT     0x9008
%define TICKS     0x900c
%define PERIOD    0x9010
%define PIT_COUNT 0x9014

table:
  dd idle_lapic
  dd idle_pit
  dd h_lapic_tick   ; vector 0x60
  dd h_pit_tick     ; vector 0x20

idle_lapic:
  mov ecx, 0x1b
  rdmsr
  and eax, 0xfff
  or eax, 0xa0000
  wrmsr
  mov ax, 0xa000
  mov es, ax
  mov dword [es:0xf0], 0x1ff
  mov dword [es:0x3e0], 0xb          ; TDCR: divide by 1
  mov dword [es:0x320], 0x20060      ; LVTT: periodic, vector 0x60
  out 0xf0, al
  mov eax, [PERIOD]
  mov [es:0x380], eax                ; TMICT starts the timer
  jmp idle

idle_pit:
  mov al, 0x11                       ; ICW1: edge, cascade, ICW4
  out 0x20, al
  mov al, 0x20                       ; ICW2: vectors 0x20-0x27
  out 0x21, al
  mov al, 0x04                       ; ICW3: slave on IRQ 2
  out 0x21, al
  mov al, 0x01                       ; ICW4: 8086 mode
  out 0x21, al
  mov al, 0xfe                       ; OCW1: IRQ 0 only
  out 0x21, al
  mov al, 0xff
  out 0xa1, al
  out 0xf0, al
  mov al, 0x34                       ; channel 0, LSB/MSB, mode 2
  out 0x43, al
  mov ax, [PIT_COUNT]
  out 0x40, al
  mov al, ah
  out 0x40, al
idle:
  sti
  hlt
  cli
  mov eax, [TICKS]
  cmp eax, [COUNT]
  jb idle
  out 0xf1, al
.halt:
  hlt
  jmp .halt

h_lapic_tick:
  inc dword [TICKS]
  mov dword [es:0xb0], 0
  iret

h_pit_tick:
  inc dword [TICKS]
  push ax
  mov al, 0x20                       ; non-specific EOI
  out 0x20, al
  pop ax
  iret
